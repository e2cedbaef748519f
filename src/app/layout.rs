//! Layout facts that both `update` (paging, clamping) and `ui` (drawing) need: one place,
//! imported by both, so `app` never reaches into `ui`. (`Measures`, the sizes only drawing
//! can tell, lives with the model in `state`.)

use super::state::Model;

/// Rows of chrome around the table: profile tabs, kind tabs, table header, status, hints.
pub const CHROME_ROWS: u16 = 5;

/// From this width the detail pane sits beside the table; below it, under the table.
pub const DETAIL_SIDE_MIN_WIDTH: u16 = 120;

/// Below this size the screen says "terminal too small".
pub const MIN_WIDTH: u16 = 60;
pub const MIN_HEIGHT: u16 = 16;

/// Rows of the table at the model's screen size (half of them when the detail pane sits
/// under it).
pub fn table_rows(m: &Model) -> u16 {
    let mut rows = m.height.saturating_sub(CHROME_ROWS);
    if m.detail_open && m.width < DETAIL_SIDE_MIN_WIDTH {
        rows /= 2;
    }
    rows.max(1)
}
