// The operator's forms, parsed (pure, unit-tested in tests/web/manage.test.mjs):
// a venue's sections as compact lines, an event's zones as lines, and the
// rate to resume admission at after a pause.

/**
 * Venue sections, one per line: `Name: ROWS x SEATS` (rows named 1..ROWS,
 * each with SEATS seats), e.g. `Floor: 10 x 20`, laid out on a grid. To
 * place sections around a stage instead, end every section line with a shape
 * and add a stage line (numbers in seat widths, angles in degrees):
 *   `Floor: 10 x 20 @ block X, Y[, ANGLE]`  a block whose front row is centred on (X, Y)
 *   `North: 8 x 30 @ arc CX, CY, RADIUS, ANGLE`  rows along circles about (CX, CY)
 *   `Stage @ X, Y, WIDTH, HEIGHT[, ANGLE]`
 * Answers {sections, stage?} for POST /admin/venues' layout, or {error}.
 */
export function parseSections(text) {
  const sections = [];
  let stage;
  const lines = String(text).split('\n').map((l) => l.trim()).filter(Boolean);
  if (lines.length === 0) return { error: 'Give at least one section, e.g. "Floor: 10 x 20".' };
  for (const [i, line] of lines.entries()) {
    const stageLine = /^stage\s*@\s*(.+)$/i.exec(line);
    if (stageLine) {
      const n = numbers(stageLine[1]);
      if (!n || n.length < 4 || n.length > 5 || n[2] <= 0 || n[3] <= 0) {
        return { error: `Line ${i + 1} should read "Stage @ x, y, width, height[, angle]".` };
      }
      if (stage) return { error: 'Give one stage line at most.' };
      stage = { x: n[0], y: n[1], width: n[2], height: n[3], ...(n.length === 5 ? { angle: n[4] } : {}) };
      continue;
    }
    const m = /^(.+?)\s*:\s*(\d+)\s*[x×*]\s*(\d+)\s*(?:@\s*(block|arc)\s+(.+))?$/i.exec(line);
    if (!m) return { error: `Line ${i + 1} should read "Name: rows x seats", e.g. "Floor: 10 x 20".` };
    const [name, rows, seats] = [m[1].trim(), Number(m[2]), Number(m[3])];
    if (rows < 1 || seats < 1) return { error: `Line ${i + 1}: a section needs at least one row of one seat.` };
    if (sections.some((s) => s.name === name)) return { error: `Section "${name}" is named twice.` };
    const section = { name, rows: Array.from({ length: rows }, (_, r) => ({ name: String(r + 1), seats })) };
    if (m[4]) {
      const shape = parseShape(m[4].toLowerCase(), m[5]);
      if (!shape) {
        return {
          error: `Line ${i + 1}: a shape reads "@ block x, y[, angle]" or "@ arc cx, cy, radius, angle".`,
        };
      }
      section.shape = shape;
    }
    sections.push(section);
  }
  const shaped = sections.filter((s) => s.shape).length;
  if (shaped !== 0 && shaped !== sections.length) {
    return { error: 'Give every section a shape (@ block or @ arc), or none for a plain grid.' };
  }
  if (stage && shaped === 0) return { error: 'A stage goes with shaped sections (@ block or @ arc).' };
  return stage ? { sections, stage } : { sections };
}

function parseShape(type, text) {
  const n = numbers(text);
  if (!n) return null;
  if (type === 'block' && (n.length === 2 || n.length === 3)) {
    return { type, x: n[0], y: n[1], ...(n.length === 3 ? { angle: n[2] } : {}) };
  }
  if (type === 'arc' && n.length === 4 && n[2] > 0) {
    return { type, cx: n[0], cy: n[1], radius: n[2], angle: n[3] };
  }
  return null;
}

/** "1, -2.5, 3" -> [1, -2.5, 3]; anything else -> null. */
function numbers(text) {
  const parts = String(text).split(',').map((p) => p.trim());
  if (parts.some((p) => !/^-?\d+(?:\.\d+)?$/.test(p))) return null;
  return parts.map(Number);
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
