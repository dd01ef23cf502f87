// Small DOM helpers shared by the views.

/** The element for `selector`; the page's HTML and the views must agree, so a miss is a bug. */
export function required<T extends Element = HTMLElement>(root: ParentNode, selector: string): T {
  const element = root.querySelector<T>(selector);
  if (!element) throw new Error(`the page has no ${selector}`);
  return element;
}

/** Sets text only when it differs (no layout work for unchanged cells). */
export function setText(element: Element | null, value: string): void {
  if (element && element.textContent !== value) element.textContent = value;
}

/** An element with a class and text; text goes through textContent, never HTML (producers choose it). */
export function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  className?: string,
  text?: string,
): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  if (className) element.className = className;
  if (text !== undefined) element.textContent = text;
  return element;
}
