// The operator's forms, parsed (pure, unit-tested in tests/web/manage.test.mjs):
// a venue's sections as compact lines, an event's zones as lines, and the
// rate to resume admission at after a pause.

/**
 * Venue sections, one per line: `Name: ROWS x SEATS` (rows named 1..ROWS,
 * each with SEATS seats), e.g. `Floor: 10 x 20`. Answers {sections} for
 * POST /admin/venues' layout, or {error}.
 */
export function parseSections(text) {
  const sections = [];
  const lines = String(text).split('\n').map((l) => l.trim()).filter(Boolean);
  if (lines.length === 0) return { error: 'Give at least one section, e.g. "Floor: 10 x 20".' };
  for (const [i, line] of lines.entries()) {
    const m = /^(.+?)\s*:\s*(\d+)\s*[x×*]\s*(\d+)$/i.exec(line);
    if (!m) return { error: `Line ${i + 1} should read "Name: rows x seats", e.g. "Floor: 10 x 20".` };
    const [, name, rows, seats] = [m[0], m[1].trim(), Number(m[2]), Number(m[3])];
    if (rows < 1 || seats < 1) return { error: `Line ${i + 1}: a section needs at least one row of one seat.` };
    if (sections.some((s) => s.name === name)) return { error: `Section "${name}" is named twice.` };
    sections.push({ name, rows: Array.from({ length: rows }, (_, r) => ({ name: String(r + 1), seats })) });
  }
  return { sections };
}

/**
 * Price zones, one per line: `Name | price | section, section`, the price in
 * the currency's units (`45` or `45.50`). Blank: no zones. Answers {zones}
 * (`[{name, price_cents, sections}]`) or {error}.
 */
export function parseZones(text) {
  const zones = [];
  const lines = String(text).split('\n').map((l) => l.trim()).filter(Boolean);
  for (const [i, line] of lines.entries()) {
    const parts = line.split('|').map((p) => p.trim());
    if (parts.length !== 3 || !parts[0]) return { error: `Zone line ${i + 1} should read "Name | price | section, section".` };
    const cents = priceCents(parts[1]);
    if (cents === null) return { error: `Zone line ${i + 1}: "${parts[1]}" is not a price.` };
    const sections = parts[2].split(',').map((s) => s.trim()).filter(Boolean);
    if (sections.length === 0) return { error: `Zone line ${i + 1}: name at least one section.` };
    if (zones.some((z) => z.name === parts[0])) return { error: `Zone "${parts[0]}" is named twice.` };
    zones.push({ name: parts[0], price_cents: cents, sections });
  }
  return { zones };
}

/** "45", "45.5", "45.50" -> cents; anything else -> null. */
export function priceCents(text) {
  const m = /^(\d{1,7})(?:[.,](\d{1,2}))?$/.exec(String(text).trim());
  if (!m) return null;
  return Number(m[1]) * 100 + Number((m[2] ?? '0').padEnd(2, '0'));
}

/** The rate to resume at: the one before the pause, else the form's, else 50. */
export function resumeRate(remembered, formRate) {
  for (const r of [remembered, formRate]) {
    const n = Number(r);
    if (Number.isInteger(n) && n > 0) return n;
  }
  return 50;
}
