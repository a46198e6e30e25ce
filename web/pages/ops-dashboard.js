// The operator panel's live dashboard for the chosen event: reads
// GET /admin/events/{id}/dashboard/stream (SSE over fetch, with the
// operator's bearer token), keeps the series (../ops/dashboard-model.js) and
// redraws the charts (../ops/charts.js) on every sample. Reconnects after a
// dropped stream; a 401/403 signs the operator out.

import { api } from '../lib/api.js';
import { readSse } from '../lib/sse-fetch.js';
import { dashboardCharts } from '../ops/charts.js';
import { DashboardSeries } from '../ops/dashboard-model.js';

const RETRY_MS = 2000;

export function initDashboard({ token, authFailed }) {
  const $ = (id) => document.getElementById(id);
  const draw = dashboardCharts($('ops-charts'), $('ops-zones'));
  let controller = null;
  let series = new DashboardSeries();
  let zones = [];
  const setLive = (state, text) => { $('ops-dash-live').dataset.state = state; $('ops-dash-live').textContent = text; };

  async function run(eventId, signal) {
    try {
      const event = await api(`/events/${eventId}`, { signal });
      zones = event.zones ?? [];
    } catch (e) {
      if (signal.aborted) return;
      zones = [];
    }
    while (!signal.aborted) {
      setLive('connecting', 'Connecting…');
      try {
        await readSse(`/admin/events/${eventId}/dashboard/stream`, {
          token: token(),
          signal,
          onMessage({ event, data }) {
            const body = JSON.parse(data);
            if (event === 'snapshot') series.snapshot(body);
            else if (event === 'sample') series.sample(body);
            else return;
            draw(series, zones);
            setLive('live', `Live · ${new Date(series.latest.at).toLocaleTimeString()}`);
          },
        });
      } catch (e) {
        if (signal.aborted) return;
        if (authFailed(e)) return;
      }
      if (signal.aborted) return;
      setLive('reconnecting', 'Reconnecting…');
      await new Promise((resolve) => setTimeout(resolve, RETRY_MS));
    }
  }

  return {
    /** Watches `eventId` (null: nothing). */
    show(eventId) {
      controller?.abort();
      controller = null;
      series = new DashboardSeries();
      draw(series, []);
      if (!eventId) return;
      controller = new AbortController();
      run(eventId, controller.signal);
    },
    get series() { return series; },
  };
}
