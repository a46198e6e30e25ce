//! report.html: one self-contained file (inline SVG drawn with plotters,
//! no scripts, no CDN) that tells the story of the on-sale at a glance.

use plotters::prelude::*;

use super::recorder::Endpoint;
use super::report_json::Report;

type Series = (String, RGBColor, Vec<(f64, f64)>);

const COLORS: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(255, 127, 14),
    RGBColor(148, 103, 189),
    RGBColor(23, 190, 207),
];

/// A line chart over the run's seconds, fault windows shaded red, the sale
/// opening marked by a dashed line.
fn chart(
    title: &str,
    y_label: &str,
    report: &Report,
    series: Vec<Series>,
) -> anyhow::Result<String> {
    let x_max = report.rush_seconds.max(1.0);
    let y_max = series
        .iter()
        .flat_map(|s| s.2.iter().map(|p| p.1))
        .fold(0.0f64, f64::max)
        .max(1.0)
        * 1.1;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (960, 320)).into_drawing_area();
        root.fill(&WHITE)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(64)
            .build_cartesian_2d(0f64..x_max, 0f64..y_max)?;
        chart
            .configure_mesh()
            .x_desc("seconds since the first fans arrived")
            .y_desc(y_label)
            .light_line_style(RGBColor(240, 240, 240))
            .draw()?;
        for fault in &report.faults {
            chart.draw_series(std::iter::once(Rectangle::new(
                [
                    (fault.start_s, 0.0),
                    (fault.end_s.max(fault.start_s + 0.3), y_max),
                ],
                RGBColor(255, 180, 180).mix(0.45).filled(),
            )))?;
            chart.draw_series(std::iter::once(Text::new(
                fault.name.clone(),
                (fault.start_s, y_max * 0.97),
                ("sans-serif", 12).into_font().color(&RGBColor(160, 0, 0)),
            )))?;
        }
        chart.draw_series(DashedLineSeries::new(
            [(report.onsale_s, 0.0), (report.onsale_s, y_max)],
            4,
            4,
            BLACK.mix(0.5).stroke_width(1),
        ))?;
        for (name, color, points) in series {
            chart
                .draw_series(LineSeries::new(points, color.stroke_width(2)))?
                .label(name)
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
                });
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE.mix(0.85))
            .border_style(RGBColor(200, 200, 200))
            .draw()?;
        root.present()?;
    }
    Ok(svg)
}

fn named(name: &str, i: usize, points: Vec<(f64, f64)>) -> Series {
    (name.to_owned(), COLORS[i % COLORS.len()], points)
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

pub fn render(report: &Report) -> anyhow::Result<String> {
    let per_second = |f: fn(&super::report_json::Second) -> u64| {
        report
            .per_second
            .iter()
            .map(|s| (f64::from(s.t), f(s) as f64))
            .collect::<Vec<_>>()
    };
    let mut charts = vec![chart(
        "Reservation attempts, holds and sales per second",
        "per second",
        report,
        vec![
            named("attempts", 0, per_second(|s| s.attempts)),
            named("holds (201)", 1, per_second(|s| s.holds)),
            named("409 conflicts", 3, per_second(|s| s.conflicts)),
            named("sales (confirmed)", 4, per_second(|s| s.sales)),
            named("failed requests", 2, per_second(|s| s.failures)),
        ],
    )?];
    let gauges = |f: fn(&super::recorder::Gauge) -> u64| {
        report
            .gauges
            .iter()
            .map(|g| (f64::from(g.t_ms) / 1000.0, f(g) as f64))
            .collect::<Vec<_>>()
    };
    charts.push(chart(
        "Seats: available, held, sold",
        "seats",
        report,
        vec![
            named("available", 0, gauges(|g| g.available)),
            named("held", 3, gauges(|g| g.reserved)),
            named("sold", 1, gauges(|g| g.confirmed)),
        ],
    )?);
    let admitted_rate: Vec<(f64, f64)> = report
        .gauges
        .windows(2)
        .map(|w| {
            let dt = f64::from(w[1].t_ms.saturating_sub(w[0].t_ms)).max(1.0) / 1000.0;
            (
                f64::from(w[1].t_ms) / 1000.0,
                w[1].admitted_total.saturating_sub(w[0].admitted_total) as f64 / dt,
            )
        })
        .collect();
    charts.push(chart(
        "Waiting room: fans in line",
        "waiting",
        report,
        vec![named("waiting", 0, gauges(|g| g.waiting))],
    )?);
    charts.push(chart(
        "Waiting room: admissions per second against the rate set",
        "admitted / s",
        report,
        vec![
            named("admitted / s", 1, admitted_rate),
            named("rate set", 2, gauges(|g| g.rate_set)),
        ],
    )?);
    for (title, p99) in [
        ("Latency p50 per endpoint", false),
        ("Latency p99 per endpoint", true),
    ] {
        let series = [
            Endpoint::Reserve,
            Endpoint::Confirm,
            Endpoint::QueueJoin,
            Endpoint::Guest,
            Endpoint::SeatStream,
            Endpoint::Tickets,
        ]
        .iter()
        .enumerate()
        .map(|(i, &endpoint)| {
            let points = report
                .latency_over_time
                .iter()
                .filter(|p| p.endpoint == endpoint)
                .map(|p| (f64::from(p.t), if p99 { p.p99_ms } else { p.p50_ms }))
                .collect();
            named(endpoint.label(), i, points)
        })
        .filter(|s| !s.2.is_empty())
        .collect();
        charts.push(chart(title, "ms", report, series)?);
    }
    charts.push(chart(
        "Live map: from the click (POST /bookings) to the hold on the fan's own stream",
        "ms",
        report,
        vec![
            named(
                "p50",
                0,
                report
                    .map_delay_over_time
                    .iter()
                    .map(|p| (f64::from(p.0), p.1))
                    .collect(),
            ),
            named(
                "p99",
                2,
                report
                    .map_delay_over_time
                    .iter()
                    .map(|p| (f64::from(p.0), p.2))
                    .collect(),
            ),
        ],
    )?);

    let mut html = String::from(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>boxoffice on-sale rehearsal</title>\
         <style>body{font-family:sans-serif;margin:24px;color:#222}table{border-collapse:collapse;margin:8px 0 20px}\
         td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}th{background:#f4f4f4}\
         td:first-child{text-align:left}.pass{color:#080}.fail{color:#c00}figure{margin:0 0 12px}</style>\
         </head><body>",
    );
    let verdict = match (&report.verify, &report.verify_error) {
        (Some(v), _) if v.passed() => "<b class=\"pass\">invariants hold</b>".to_owned(),
        (Some(_), _) => "<b class=\"fail\">INVARIANT VIOLATIONS</b>".to_owned(),
        (None, Some(e)) => format!("<b class=\"fail\">checker failed: {}</b>", escape(e)),
        (None, None) => "checker not run".to_owned(),
    };
    let c = &report.counts;
    html.push_str(&format!(
        "<h1>On-sale rehearsal: event {}</h1><p>{} fans, {} seats, {} | started {} | {:.1} s | {}</p>",
        report.event_id,
        report.scenario.fans,
        report.gauges.last().map_or(0, |g| g.available + g.reserved + g.confirmed),
        escape(&report.targets.join(", ")),
        escape(&report.started_at),
        report.rush_seconds,
        verdict
    ));
    html.push_str(&format!(
        "<table><tr><th>arrived</th><th>admitted</th><th>held</th><th>409s</th><th>paid</th><th>seats sold</th>\
         <th>released</th><th>abandoned</th><th>met sold out</th><th>gave up</th><th>door scans</th></tr>\
         <tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr></table>",
        c.arrived, c.admitted, c.held, c.conflicts, c.paid, c.seats_sold, c.released, c.abandoned, c.sold_out,
        c.gave_up, c.scanned
    ));
    html.push_str(
        "<table><tr><th>endpoint</th><th>requests</th><th>ok</th><th>409</th><th>4xx</th><th>5xx</th>\
         <th>no answer</th><th>p50 ms</th><th>p90 ms</th><th>p99 ms</th><th>max ms</th></tr>",
    );
    for e in &report.endpoints {
        html.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>\
             <td>{:.1}</td><td>{:.1}</td><td>{:.1}</td><td>{:.1}</td></tr>",
            e.label,
            e.requests,
            e.ok,
            e.conflicts,
            e.other_4xx,
            e.server_errors,
            e.no_answer,
            e.latency.p50_ms,
            e.latency.p90_ms,
            e.latency.p99_ms,
            e.latency.max_ms
        ));
    }
    html.push_str("</table><table><tr><th>window</th><th>from s</th><th>to s</th><th>requests</th><th>failed</th><th>POST /bookings p99 ms</th><th>all p99 ms</th></tr>");
    for w in report
        .faults
        .iter()
        .chain(std::iter::once(&report.outside_faults))
    {
        html.push_str(&format!(
            "<tr><td>{}{}</td><td>{:.1}</td><td>{:.1}</td><td>{}</td><td>{:.2} %</td><td>{:.1}</td><td>{:.1}</td></tr>",
            escape(&w.name),
            if w.note.is_empty() { String::new() } else { format!(" ({})", escape(&w.note)) },
            w.start_s, w.end_s, w.requests, w.failure_rate * 100.0, w.reserve_latency.p99_ms, w.all_latency.p99_ms
        ));
    }
    html.push_str("</table>");
    let a = &report.admission;
    html.push_str(&format!(
        "<p>Waiting room: {} admitted in {:.1} s = {:.1}/s for {}/s set ({:+.2} %). \
         Live map: p50 {:.1} ms, p99 {:.1} ms from the click (POST /bookings) to the fan's own stream showing the hold.</p>",
        a.admitted,
        a.seconds,
        a.measured_rate,
        a.rate_set,
        a.error_pct,
        report.map_delay.p50_ms,
        report.map_delay.p99_ms
    ));
    for (i, svg) in charts.into_iter().enumerate() {
        html.push_str(&format!("<figure id=\"chart-{}\">", i + 1));
        html.push_str(&svg);
        html.push_str("</figure>");
    }
    if let Some(v) = &report.verify {
        html.push_str("<h2>Invariant checker</h2><table><tr><th>check</th><th>checked</th><th>violations</th></tr>");
        for check in &v.checks {
            html.push_str(&format!(
                "<tr><td>{}</td><td>{}</td><td class=\"{}\">{}</td></tr>",
                escape(check.name),
                check.checked,
                if check.violations.is_empty() {
                    "pass"
                } else {
                    "fail"
                },
                check.violations.len()
            ));
        }
        html.push_str("</table>");
    }
    html.push_str("</body></html>\n");
    Ok(html)
}
