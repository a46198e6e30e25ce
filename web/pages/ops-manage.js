// The operator panel's "Manage" forms: create a venue (sections as
// "Name: rows x seats" lines) and an event on it, optionally priced by zones
// ("Name | price | sections" lines; sent as `zones` only when given). Parsing
// is in ../ops/manage-model.js.

import { errorText } from '../lib/api.js';
import { formatPrice } from '../lib/format.js';
import { parseSections, parseZones, priceCents } from '../ops/manage-model.js';

export function initManage({ opsApi, authFailed, onEventCreated }) {
  const $ = (id) => document.getElementById(id);
  const say = (id, text, kind = '') => { $(id).textContent = text; $(id).className = `message ${kind}`; };

  async function submit(form, messageId, work) {
    const buttons = form.querySelectorAll('button');
    for (const b of buttons) b.disabled = true;
    try {
      await work();
    } catch (e) {
      if (!authFailed(e)) say(messageId, errorText(e), 'error');
    } finally {
      for (const b of buttons) b.disabled = false;
    }
  }

  $('ops-venue-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const parsed = parseSections($('ops-venue-sections').value);
    if (parsed.error) { say('ops-venue-message', parsed.error, 'error'); return; }
    submit(e.target, 'ops-venue-message', async () => {
      say('ops-venue-message', 'Creating the venue…');
      const venue = await opsApi('/admin/venues', {
        method: 'POST',
        body: { name: $('ops-venue-name').value.trim(), city: $('ops-venue-city').value.trim(), layout: parsed.stage ? { sections: parsed.sections, stage: parsed.stage } : { sections: parsed.sections } },
      });
      $('ops-new-venue').value = String(venue.venue_id);
      say('ops-venue-message', `Venue #${venue.venue_id} created with ${venue.seat_count.toLocaleString()} seats.`, 'ok');
    });
  });

  $('ops-new-event-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const price = priceCents($('ops-new-price').value);
    if (price === null) { say('ops-new-event-message', 'The price should read like 45 or 45.50.', 'error'); return; }
    const zones = parseZones($('ops-new-zones').value);
    if (zones.error) { say('ops-new-event-message', zones.error, 'error'); return; }
    const start = new Date($('ops-new-start').value);
    if (Number.isNaN(start.getTime())) { say('ops-new-event-message', 'Give the start time.', 'error'); return; }
    const body = {
      title: $('ops-new-title').value.trim(),
      venue_id: Number($('ops-new-venue').value),
      category: $('ops-new-category').value.trim(),
      start_time: start.toISOString(),
      price_cents: price,
      status: $('ops-new-onsale').checked ? 'ON_SALE' : 'SCHEDULED',
    };
    if (zones.zones.length) body.zones = zones.zones;
    submit(e.target, 'ops-new-event-message', async () => {
      say('ops-new-event-message', 'Creating the event…');
      const event = await opsApi('/admin/events', { method: 'POST', body });
      say('ops-new-event-message',
        `Event #${event.event_id} created (${event.status === 'ON_SALE' ? 'on sale' : 'not on sale yet'}, from ${formatPrice(event.price_cents)}).`, 'ok');
      await onEventCreated(event.event_id);
    });
  });
}
