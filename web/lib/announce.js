// What the seat map says to screen readers, and the polite live region that
// says it. The phrases are pure (tests/web/announce.test.mjs); the Announcer
// only writes text into an aria-live element.

/** A seat's short spoken name: "A-3-12" (section, row, number). */
export const seatName = (section, row, number) => `${section}-${row}-${number}`;

/** "Seat A-3-12 selected" / "Seat A-3-12 deselected", with the selection size. */
export function selectionPhrase(name, selected, count) {
  const total = count === 1 ? '1 seat selected' : `${count} seats selected`;
  return `Seat ${name} ${selected ? 'selected' : 'deselected'}. ${total}.`;
}

/** A cursor move: "Seat A-3-12, available" (+ ", selected" / ", held by you"). */
export function seatPhrase(name, status, { selected = false, mine = false } = {}) {
  const state = String(status ?? 'loading').toLowerCase().replace(/_/g, ' ');
  const spoken = state === 'reserved' ? 'held' : state === 'confirmed' ? 'sold' : state;
  return `Seat ${name}, ${spoken}${selected ? ', selected' : mine ? ', held by you' : ''}.`;
}

/** "Hold succeeded: seats A-3-12 and A-3-13 are yours for 10 minutes." */
export function holdSucceeded(names, minutes) {
  const seats = names.length === 1 ? `seat ${names[0]} is` : `seats ${list(names)} are`;
  const time = minutes > 0 ? ` for ${minutes} minute${minutes === 1 ? '' : 's'}` : '';
  return `Hold succeeded: ${seats} yours${time}. Pay before the timer runs out.`;
}

/** "Hold failed: seat A-3-12 was just taken." or with the server's reason. */
export function holdFailed({ taken = [], reason = '' } = {}) {
  if (taken.length) {
    return `Hold failed: ${taken.length === 1 ? `seat ${taken[0]} was` : `seats ${list(taken)} were`} just taken. Pick other seats.`;
  }
  return `Hold failed${reason ? `: ${reason.replace(/\.$/, '')}` : ''}.`;
}

function list(names) {
  return names.length < 2 ? names.join('') : `${names.slice(0, -1).join(', ')} and ${names.at(-1)}`;
}

/** Writes messages into a polite live region; the same text twice is said twice. */
export class Announcer {
  constructor(region) {
    this.region = region;
    this.timer = 0;
  }

  say(text) {
    clearTimeout(this.timer);
    this.region.textContent = '';
    // A change after an empty frame makes screen readers read it even when
    // the text equals the previous one.
    this.timer = setTimeout(() => { this.region.textContent = text; }, 50);
  }
}
