//! Colours and emphasis. With NO_COLOR every style falls back to plain, bold or reversed
//! text; meaning is always carried by a glyph or word as well.

use crate::model::CellTone;
use ratatui::style::{Color, Modifier, Style};

#[derive(Debug, Clone, Copy)]
pub struct Theme {
    pub no_color: bool,
}

impl Theme {
    fn color(&self, c: Color) -> Style {
        if self.no_color {
            Style::default()
        } else {
            Style::default().fg(c)
        }
    }

    pub fn tone(&self, tone: CellTone) -> Style {
        match tone {
            CellTone::Normal => Style::default(),
            CellTone::Dim => self.color(Color::DarkGray),
            CellTone::Good => self.color(Color::Green),
            CellTone::Bad => self.color(Color::Red).add_modifier(Modifier::BOLD),
            CellTone::Warn => self.color(Color::Yellow),
        }
    }

    pub fn tab_active(&self) -> Style {
        if self.no_color {
            Style::default().add_modifier(Modifier::REVERSED | Modifier::BOLD)
        } else {
            Style::default()
                .fg(Color::Black)
                .bg(Color::Cyan)
                .add_modifier(Modifier::BOLD)
        }
    }

    pub fn tab_inactive(&self) -> Style {
        self.color(Color::Gray)
    }

    pub fn header(&self) -> Style {
        Style::default().add_modifier(Modifier::BOLD | Modifier::UNDERLINED)
    }

    pub fn selected(&self) -> Style {
        Style::default().add_modifier(Modifier::REVERSED)
    }

    pub fn marked(&self) -> Style {
        self.color(Color::Magenta).add_modifier(Modifier::BOLD)
    }

    /// A row that became unhealthy since the operator last looked (with its ✚ glyph).
    pub fn new_row(&self) -> Style {
        self.color(Color::LightRed).add_modifier(Modifier::BOLD)
    }

    pub fn badge(&self, danger: bool) -> Style {
        if self.no_color {
            Style::default().add_modifier(Modifier::REVERSED | Modifier::BOLD)
        } else if danger {
            Style::default()
                .fg(Color::White)
                .bg(Color::Red)
                .add_modifier(Modifier::BOLD)
        } else {
            Style::default()
                .fg(Color::Black)
                .bg(Color::Yellow)
                .add_modifier(Modifier::BOLD)
        }
    }

    pub fn error(&self) -> Style {
        self.color(Color::Red).add_modifier(Modifier::BOLD)
    }

    pub fn warn(&self) -> Style {
        self.color(Color::Yellow)
    }

    pub fn dim(&self) -> Style {
        self.color(Color::DarkGray)
    }

    pub fn key(&self) -> Style {
        self.color(Color::Cyan).add_modifier(Modifier::BOLD)
    }

    pub fn border(&self) -> Style {
        self.color(Color::Cyan)
    }

    pub fn danger_border(&self) -> Style {
        self.color(Color::Red)
    }
}
