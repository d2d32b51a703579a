//! Drawing pieces every screen uses: form fields, tone styles, modals and a scrolled,
//! wrapped text pane with a scrollbar.

use std::cell::Cell;

use ratatui::buffer::Buffer;
use ratatui::layout::{Margin, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{
    Block, Borders, Clear, Paragraph, Scrollbar, ScrollbarOrientation, ScrollbarState,
    StatefulWidget, Wrap,
};
use ratatui::Frame;
use tui_input::Input;

use super::theme::Theme;
use crate::core::render::{Tone, ToneLine};
use crate::core::validate::FieldError;
use crate::tui::words::{said, say};

pub fn tone_style(theme: Theme, tone: Option<Tone>) -> Style {
    match tone {
        None => Style::default(),
        Some(Tone::Added) => theme.added(),
        Some(Tone::Removed) => theme.removed(),
        Some(Tone::Changed) => theme.changed(),
        Some(Tone::Warn) => theme.warn(),
        Some(Tone::Danger) => theme.danger(),
        Some(Tone::Muted) => theme.muted(),
    }
}

/// A line as the engine tagged it, in the theme's styles (no re-reading of the text).
pub fn styled(theme: Theme, line: &ToneLine) -> Line<'static> {
    Line::from(
        line.spans
            .iter()
            .map(|(text, tone)| Span::styled(said(text), tone_style(theme, *tone)))
            .collect::<Vec<_>>(),
    )
}

pub fn field_line<'a>(theme: Theme, label: &str, input: &'a Input, focused: bool) -> Line<'a> {
    value_line(
        theme,
        label,
        input.value().to_string(),
        input.cursor(),
        focused,
    )
}

/// A secret field: one dot per character, never the characters.
pub fn masked_field_line(theme: Theme, label: &str, input: &Input, focused: bool) -> Line<'static> {
    value_line(
        theme,
        label,
        "•".repeat(input.value().chars().count()),
        input.cursor(),
        focused,
    )
}

/// A labelled value as every form shows it: a marker and the key style on the focused one.
pub fn label_span(theme: Theme, label: &str, focused: bool) -> Span<'static> {
    let marker = if focused { "›" } else { " " };
    // At least one space between a long label and its value.
    Span::styled(
        format!(
            "{marker} {label:<22}{}",
            if label.chars().count() >= 22 { " " } else { "" }
        ),
        if focused {
            theme.key()
        } else {
            Style::default()
        },
    )
}

/// The value with the text cursor drawn where the insertion point is (`cursor` counts
/// characters), not always at the end.
fn value_line(
    theme: Theme,
    label: &str,
    value: String,
    cursor: usize,
    focused: bool,
) -> Line<'static> {
    let value_style = if focused {
        Style::default().add_modifier(Modifier::UNDERLINED)
    } else {
        Style::default()
    };
    if !focused {
        return Line::from(vec![label_span(theme, label, false), Span::raw(value)]);
    }
    let at = value
        .char_indices()
        .nth(cursor)
        .map_or(value.len(), |(i, _)| i);
    let (before, after) = value.split_at(at);
    Line::from(vec![
        label_span(theme, label, focused),
        Span::styled(before.to_string(), value_style),
        Span::styled("▏", theme.key()),
        Span::styled(after.to_string(), value_style),
    ])
}

/// The rule a field breaks, in words, or a tick.
pub fn error_line(theme: Theme, e: Option<&FieldError>) -> Line<'static> {
    match e {
        Some(e) => Line::from(Span::styled(
            format!("    ✗ {} (example: {})", say(&e.rule), say(&e.example)),
            theme.removed(),
        )),
        None => Line::from(Span::styled("    ✓", theme.ok())),
    }
}

pub fn centered(area: Rect, w: u16, h: u16) -> Rect {
    let w = w.min(area.width);
    let h = h.min(area.height);
    Rect {
        x: area.x + (area.width - w) / 2,
        y: area.y + (area.height - h) / 2,
        width: w,
        height: h,
    }
}

/// A popup of wrapped lines, as tall as they need (up to the screen).
pub fn modal(frame: &mut Frame, theme: Theme, area: Rect, title: &str, lines: &[String]) {
    let width = 76.min(area.width);
    let text: Vec<Line> = lines.iter().map(|l| Line::raw(l.clone())).collect();
    let para = Paragraph::new(text).wrap(Wrap { trim: false });
    let height = para.line_count(width.saturating_sub(2)) as u16 + 2;
    let popup = centered(area, width, height);
    frame.render_widget(Clear, popup);
    frame.render_widget(
        para.block(
            Block::default()
                .borders(Borders::ALL)
                .title(Span::styled(format!(" {title} "), theme.danger())),
        ),
        popup,
    );
}

/// Wrapped text in a bordered pane, scrolled by `scroll` lines (clamped to the end), with a
/// scrollbar and "more" in the title when it does not all fit. The furthest useful scroll is
/// remembered in `max` so keys stop at the end instead of scrolling into nothing.
pub fn scrolled(
    frame: &mut Frame,
    area: Rect,
    title: &str,
    lines: Vec<Line<'_>>,
    scroll: u16,
    max: &Cell<u16>,
) {
    let inner = area.inner(Margin::new(1, 1));
    let para = Paragraph::new(wrap_indented(lines, inner.width)).wrap(Wrap { trim: false });
    let total = para.line_count(inner.width) as u16;
    let last = total.saturating_sub(inner.height);
    max.set(last);
    let at = scroll.min(last);
    let mut block = Block::default()
        .borders(Borders::ALL)
        .title(title.to_string());
    if last > 0 {
        let more = if at < last {
            format!(" ↓ {} more line(s) ", last - at)
        } else {
            " end ".to_string()
        };
        block = block.title_bottom(Line::from(more).right_aligned());
    }
    frame.render_widget(block, area);
    frame.render_widget(para.scroll((at, 0)), inner);
    if last > 0 {
        // On the right border, as ratatui's own examples draw it: it never covers text.
        let mut state = ScrollbarState::new(last as usize + 1).position(at as usize);
        frame.render_stateful_widget(
            Scrollbar::new(ScrollbarOrientation::VerticalRight),
            area.inner(Margin::new(0, 1)),
            &mut state,
        );
    }
}

/// Wraps each line between words at `width` columns; a continuation keeps the line's indent
/// (plus two), so an indented tree (the plan) stays readable when a line wraps. A word longer
/// than a whole row is cut where the row ends.
pub fn wrap_indented(lines: Vec<Line<'_>>, width: u16) -> Vec<Line<'static>> {
    let width = width as usize;
    let mut out = vec![];
    for line in lines {
        let chars: Vec<(char, Style)> = line
            .spans
            .iter()
            .flat_map(|s| s.content.chars().map(move |c| (c, s.style)))
            .collect();
        if width < 8 || chars.len() <= width {
            out.push(owned(line));
            continue;
        }
        let indent = chars.iter().take_while(|(c, _)| *c == ' ').count();
        let cont = (indent + 2).min(width / 2);
        let mut rows: Vec<Vec<(char, Style)>> = vec![];
        let mut row: Vec<(char, Style)> = chars[..indent].to_vec();
        let mut i = indent;
        while i < chars.len() {
            // The next word and the spaces after it.
            let end = (i..chars.len())
                .find(|j| chars[*j].0 == ' ')
                .unwrap_or(chars.len());
            let spaces_end = (end..chars.len())
                .find(|j| chars[*j].0 != ' ')
                .unwrap_or(chars.len());
            let word = &chars[i..end];
            let start = if rows.is_empty() { indent } else { cont };
            if row.len() + word.len() > width && row.len() > start {
                while row.last().is_some_and(|(c, _)| *c == ' ') {
                    row.pop();
                }
                rows.push(std::mem::replace(
                    &mut row,
                    vec![(' ', Style::default()); cont],
                ));
            }
            let room = width.saturating_sub(row.len()).max(1);
            if word.len() > room && row.len() <= cont.max(start) {
                // Longer than a row: cut it.
                row.extend_from_slice(&word[..room]);
                i += room;
                rows.push(std::mem::replace(
                    &mut row,
                    vec![(' ', Style::default()); cont],
                ));
                continue;
            }
            row.extend_from_slice(word);
            row.extend_from_slice(&chars[end..spaces_end]);
            i = spaces_end;
        }
        while row.last().is_some_and(|(c, _)| *c == ' ') {
            row.pop();
        }
        if row.len() > cont || rows.is_empty() {
            rows.push(row);
        }
        for r in rows {
            // Runs of one style become one span again.
            let mut spans: Vec<Span<'static>> = vec![];
            for (c, style) in r {
                match spans.last_mut() {
                    Some(last) if last.style == style => last.content.to_mut().push(c),
                    _ => spans.push(Span::styled(c.to_string(), style)),
                }
            }
            out.push(Line::from(spans).style(line.style));
        }
    }
    out
}

fn owned(line: Line<'_>) -> Line<'static> {
    Line::from(
        line.spans
            .into_iter()
            .map(|s| Span::styled(s.content.into_owned(), s.style))
            .collect::<Vec<_>>(),
    )
    .style(line.style)
}

/// A scrollbar on a bordered list's right edge, when its `len` rows (under `header` rows)
/// are more than the pane shows.
pub fn list_scrollbar(frame: &mut Frame, area: Rect, len: usize, sel: usize, header: u16) {
    list_scrollbar_in(frame.buffer_mut(), area, len, sel, header);
}

/// [`list_scrollbar`] for widgets that draw into a buffer.
pub fn list_scrollbar_in(buf: &mut Buffer, area: Rect, len: usize, sel: usize, header: u16) {
    let rows = area.height.saturating_sub(2 + header) as usize;
    if len <= rows {
        return;
    }
    let mut state = ScrollbarState::new(len).position(sel);
    StatefulWidget::render(
        Scrollbar::new(ScrollbarOrientation::VerticalRight),
        area.inner(Margin::new(0, 1)),
        buf,
        &mut state,
    );
}

/// Column widths from their content: each column as wide as its longest text, the widest
/// shrunk first when they do not all fit in `available` (after one space between columns),
/// never below `min`.
pub fn fit_columns(available: u16, natural: &[usize], min: usize) -> Vec<u16> {
    let gaps = natural.len().saturating_sub(1);
    let room = (available as usize).saturating_sub(gaps);
    let mut w: Vec<usize> = natural.to_vec();
    while w.iter().sum::<usize>() > room {
        let Some((i, widest)) = w.iter().copied().enumerate().max_by_key(|(_, v)| *v) else {
            break;
        };
        if widest <= min {
            break;
        }
        w[i] = widest - 1;
    }
    w.into_iter().map(|v| v as u16).collect()
}

/// `text` in at most `width` columns, ending in "…" when it had to be cut.
pub fn ellipsize(text: &str, width: u16) -> String {
    let width = width as usize;
    if text.chars().count() <= width {
        return text.to_string();
    }
    let mut out: String = text.chars().take(width.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// The first of `candidates` that fits in `width` columns (the last one otherwise).
pub fn fitting(width: u16, candidates: Vec<String>) -> String {
    let n = candidates.len();
    candidates
        .into_iter()
        .enumerate()
        .find(|(i, c)| c.chars().count() <= width as usize || *i + 1 == n)
        .map(|(_, c)| c)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cursor_is_drawn_at_the_insertion_point() {
        let mut input = Input::new("echo-team".into());
        let text = |l: Line| {
            l.spans
                .iter()
                .map(|s| s.content.to_string())
                .collect::<String>()
        };
        assert!(
            text(field_line(Theme { color: false }, "Prefix", &input, true))
                .ends_with("echo-team▏")
        );
        input = input.with_cursor(4);
        assert!(
            text(field_line(Theme { color: false }, "Prefix", &input, true))
                .ends_with("echo▏-team")
        );
        assert!(
            text(field_line(Theme { color: false }, "Prefix", &input, false))
                .ends_with("echo-team")
        );
    }

    #[test]
    fn wrapped_lines_keep_their_indent() {
        let text = |l: &Line| {
            l.spans
                .iter()
                .map(|s| s.content.to_string())
                .collect::<String>()
        };
        let lines = wrap_indented(
            vec![Line::raw(
                "      # kept: older than the rule (created 2026-10-23), not made by the cache",
            )],
            40,
        );
        let rows: Vec<String> = lines.iter().map(text).collect();
        assert!(rows.len() > 1, "{rows:?}");
        assert!(rows.iter().all(|r| r.chars().count() <= 40), "{rows:?}");
        assert!(
            rows[1].starts_with("        ") && !rows[1].starts_with("         "),
            "{rows:?}"
        );
        assert_eq!(
            rows.iter().map(|r| r.trim()).collect::<Vec<_>>().join(" "),
            "# kept: older than the rule (created 2026-10-23), not made by the cache"
        );
        // A word longer than a row is cut, nothing lost.
        let long = wrap_indented(vec![Line::raw(format!("  {}", "x".repeat(50)))], 20);
        assert_eq!(long.iter().map(|l| text(l).trim().len()).sum::<usize>(), 50);
    }

    #[test]
    fn columns_share_the_width_by_content_and_cut_with_an_ellipsis() {
        assert_eq!(fit_columns(40, &[1, 10, 9, 10], 3), vec![1, 10, 9, 10]);
        // Too wide: the widest give way first.
        let w = fit_columns(25, &[1, 20, 9, 10], 3);
        assert_eq!(w.iter().map(|v| *v as usize).sum::<usize>(), 25 - 3);
        assert_eq!(w[0], 1);
        assert_eq!(ellipsize("echo-pullthrough-cache-role", 10), "echo-pull…");
        assert_eq!(ellipsize("echo", 10), "echo");
    }

    #[test]
    fn fitting_takes_the_longest_that_fits() {
        let c = || vec!["a long header".into(), "short".into(), "x".into()];
        assert_eq!(fitting(20, c()), "a long header");
        assert_eq!(fitting(6, c()), "short");
        assert_eq!(fitting(0, c()), "x");
    }
}
