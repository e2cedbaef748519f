//! Layout facts that both `update` (paging, clamping) and `ui` (drawing) need: one place,
//! imported by both, so `app` never reaches into `ui`.

use super::state::{ConfirmDelete, Model};

/// Rows of chrome around the table: profile tabs, kind tabs, table header, status, hints.
pub const CHROME_ROWS: u16 = 5;

/// From this width the detail pane sits beside the table; below it, under the table.
pub const DETAIL_SIDE_MIN_WIDTH: u16 = 120;

/// Below this size the screen says "terminal too small".
pub const MIN_WIDTH: u16 = 60;
pub const MIN_HEIGHT: u16 = 16;

/// Sizes only the drawing code can measure (they depend on how text wraps), handed to the
/// model by whoever owns both (the TUI, a test): `app` asks, `ui` answers.
#[derive(Clone, Copy)]
pub struct Measures {
    /// The largest scroll of the delete confirmation's body at the model's screen size.
    pub confirm_max_scroll: fn(&Model, &ConfirmDelete) -> usize,
}

impl Measures {
    /// Nothing measured: scrolling is not clamped (the drawing clamps what it shows).
    pub const UNMEASURED: Measures = Measures {
        confirm_max_scroll: |_, _| usize::MAX / 2,
    };
}

impl std::fmt::Debug for Measures {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Measures")
    }
}

/// Rows of the table at the model's screen size (half of them when the detail pane sits
/// under it).
pub fn table_rows(m: &Model) -> u16 {
    let mut rows = m.height.saturating_sub(CHROME_ROWS);
    if m.detail_open && m.width < DETAIL_SIDE_MIN_WIDTH {
        rows /= 2;
    }
    rows.max(1)
}
