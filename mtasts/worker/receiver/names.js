// Host names as the receiver compares them: trimmed, lower case, no trailing dot.

export function normalizeName(name) {
  let value = String(name).trim().toLowerCase();
  if (value.endsWith(".")) value = value.slice(0, -1);
  return value;
}
