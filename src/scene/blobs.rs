//! Connected components of a boolean mask (8-connectivity).

/// One connected set of cells.
#[derive(Debug, Clone, PartialEq)]
pub struct Blob {
    /// Row-major cell indices.
    pub cells: Vec<u32>,
    /// Bounds in cells: `x0..x1`, `y0..y1` (exclusive ends).
    pub x0: usize,
    pub y0: usize,
    pub x1: usize,
    pub y1: usize,
}

/// The 8-connected components of `mask` (`width x height`, row-major) with at least
/// `min_cells` cells, in scan order of their first cell.
pub fn label_blobs(mask: &[bool], width: usize, height: usize, min_cells: usize) -> Vec<Blob> {
    let mut seen = vec![false; mask.len()];
    let mut blobs = Vec::new();
    let mut stack = Vec::new();
    for start in 0..mask.len().min(width * height) {
        if !mask[start] || seen[start] {
            continue;
        }
        seen[start] = true;
        stack.push(start);
        let mut blob = Blob {
            cells: Vec::new(),
            x0: usize::MAX,
            y0: usize::MAX,
            x1: 0,
            y1: 0,
        };
        while let Some(i) = stack.pop() {
            let (x, y) = (i % width, i / width);
            blob.cells.push(i as u32);
            blob.x0 = blob.x0.min(x);
            blob.y0 = blob.y0.min(y);
            blob.x1 = blob.x1.max(x + 1);
            blob.y1 = blob.y1.max(y + 1);
            for ny in y.saturating_sub(1)..(y + 2).min(height) {
                for nx in x.saturating_sub(1)..(x + 2).min(width) {
                    let j = ny * width + nx;
                    if mask[j] && !seen[j] {
                        seen[j] = true;
                        stack.push(j);
                    }
                }
            }
        }
        if blob.cells.len() >= min_cells {
            blobs.push(blob);
        }
    }
    blobs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn components_with_diagonals_and_minimum_size() {
        #[rustfmt::skip]
        let grid = [
            1, 1, 0, 0, 0,
            0, 0, 1, 0, 1,
            0, 0, 0, 0, 1,
            1, 0, 0, 0, 0,
        ];
        let mask: Vec<bool> = grid.iter().map(|&v| v == 1).collect();
        let blobs = label_blobs(&mask, 5, 4, 1);
        assert_eq!(blobs.len(), 3);
        // (0,0), (1,0) and (2,1) touch diagonally.
        assert_eq!(blobs[0].cells.len(), 3);
        assert_eq!(
            (blobs[0].x0, blobs[0].y0, blobs[0].x1, blobs[0].y1),
            (0, 0, 3, 2)
        );
        assert_eq!(
            (blobs[1].x0, blobs[1].y0, blobs[1].x1, blobs[1].y1),
            (4, 1, 5, 3)
        );
        assert_eq!(blobs[2].cells, vec![15]);
        assert_eq!(label_blobs(&mask, 5, 4, 2).len(), 2);
        assert!(label_blobs(&[false; 20], 5, 4, 1).is_empty());
    }
}
