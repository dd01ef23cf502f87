// The topic picker: the topics the log knows (GET /api/v1/topics), plus the one followed even before it has events.
import type { GatewayApi } from './gateway-api.js';
import { el } from './dom.js';

export class TopicPicker {
  private current = '';

  constructor(
    private readonly select: HTMLSelectElement,
    private readonly api: GatewayApi,
    onPick: (topic: string) => void,
  ) {
    select.addEventListener('change', () => {
      this.current = select.value;
      onPick(select.value);
    });
    // Topics appear as producers start: the list is fetched again whenever the picker is about to be used.
    select.addEventListener('focus', () => void this.refresh());
  }

  /** Shows `topic` as chosen (without calling onPick). */
  choose(topic: string): void {
    this.current = topic;
    this.fill([topic]);
  }

  async refresh(): Promise<void> {
    try {
      const topics = await this.api.topics();
      this.fill(topics.map((info) => info.topic));
    } catch (error) {
      // The connection badge already tells when gateways are away; keep the list as it is.
      console.warn(`Pulse: could not list topics: ${(error as Error).message}`);
    }
  }

  private fill(topics: string[]): void {
    const names = [...new Set([...topics, this.current, ...[...this.select.options].map((option) => option.value)])]
      .filter(Boolean)
      .sort();
    const same =
      names.length === this.select.options.length && names.every((name, i) => this.select.options[i]?.value === name);
    if (!same) this.select.replaceChildren(...names.map((name) => el('option', undefined, name)));
    this.select.value = this.current;
  }
}
