// A browser page of the consumer: the SDK and the contracts, bundled by Vite.
import { PulseClient } from '@pulse-monitor/pulse/client';
import { topicSchema, type PulseEvent } from '@pulse-monitor/pulse/contracts';

const out = document.querySelector('#events')!;
const topic = new URLSearchParams(location.search).get('topic') ?? 'orders';
if (!topicSchema.safeParse(topic).success) throw new Error(`not a topic name: ${topic}`);
const client = new PulseClient({ urls: [location.origin] }).connect();
client.subscribe(topic, {
  onEvent: (event: PulseEvent) => void (out.textContent += `${event.seq} ${event.type}\n`),
  onError: (error) => void (out.textContent += `${error.code}: ${error.message}\n`),
});
