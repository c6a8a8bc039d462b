/** Kubernetes label syntax: agent labels come from pod labels, so selectors use the same rules. */

/** Optional DNS-subdomain prefix and `/`, then a name of at most 63 characters. */
const LABEL_KEY = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;
/** Empty, or at most 63 characters starting and ending with a letter or digit. */
const LABEL_VALUE = /^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$/;

export function isLabelKey(key: string): boolean {
  return key.length <= 317 && LABEL_KEY.test(key);
}

export function isLabelValue(value: string): boolean {
  return LABEL_VALUE.test(value);
}
