//! A selection in a list that may be far longer than the screen: only the
//! offset and the selected index are kept; panes draw `visible()` rows only.

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Cursor {
    pub selected: usize,
    pub offset: usize,
}

impl Cursor {
    pub fn clamp(&mut self, len: usize) {
        if len == 0 {
            *self = Cursor::default();
        } else if self.selected >= len {
            self.selected = len - 1;
        }
    }

    pub fn down(&mut self, len: usize, by: usize) {
        if len > 0 {
            self.selected = (self.selected + by).min(len - 1);
        }
    }

    pub fn up(&mut self, by: usize) {
        self.selected = self.selected.saturating_sub(by);
    }

    pub fn top(&mut self) {
        self.selected = 0;
    }

    pub fn bottom(&mut self, len: usize) {
        self.selected = len.saturating_sub(1);
    }

    /// Keeps the selection on screen for a viewport of `height` rows and
    /// returns the range of rows to draw.
    pub fn visible(&mut self, len: usize, height: usize) -> std::ops::Range<usize> {
        self.clamp(len);
        let height = height.max(1);
        if self.selected < self.offset {
            self.offset = self.selected;
        } else if self.selected >= self.offset + height {
            self.offset = self.selected + 1 - height;
        }
        if self.offset + height > len {
            self.offset = len.saturating_sub(height);
        }
        self.offset..(self.offset + height).min(len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_selection_in_view() {
        let mut c = Cursor::default();
        c.down(100, 30);
        assert_eq!(c.visible(100, 10), 21..31);
        c.up(25);
        assert_eq!(c.visible(100, 10), 5..15);
        c.bottom(100);
        assert_eq!(c.visible(100, 10), 90..100);
        c.clamp(3);
        assert_eq!(c.visible(3, 10), 0..3);
    }
}
