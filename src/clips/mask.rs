//! Privacy masks on the frames of a transcoded clip. The camera's mask is given as a function
//! that blacks out pixels of a packed 3-byte-per-pixel image (what `evidence::PrivacyMask::apply`
//! does); it is run once per frame size on a white image to learn which pixels it hides, then
//! applied to each I420 frame: luma to black (16), chroma to neutral (128) wherever any of the
//! four pixels a chroma sample covers is hidden.

use std::sync::Arc;

/// Blacks out the masked pixels of packed 3-byte pixels (`width * height * 3` bytes).
pub type MaskFn = Arc<dyn Fn(&mut [u8], u32, u32) + Send + Sync>;

/// A camera's privacy mask (`[[cameras.privacy_masks]]`) as the clip writer takes it.
pub fn from_privacy_mask(mask: crate::evidence::PrivacyMask) -> MaskFn {
    Arc::new(move |px: &mut [u8], w: u32, h: u32| mask.apply(px, w, h))
}

/// Which pixels of one frame size a mask hides.
#[derive(Debug, Clone, PartialEq)]
pub struct PixelMask {
    width: u32,
    height: u32,
    /// One per luma pixel, row by row.
    luma: Vec<bool>,
    /// One per chroma sample (`ceil(w/2) * ceil(h/2)`).
    chroma: Vec<bool>,
}

impl PixelMask {
    /// What `mask` hides on a `width` x `height` image; `None` when it hides nothing.
    pub fn learn(mask: &MaskFn, width: u32, height: u32) -> Option<PixelMask> {
        let (w, h) = (width as usize, height as usize);
        let mut probe = vec![255u8; w * h * 3];
        mask(&mut probe, width, height);
        let luma: Vec<bool> = probe.chunks_exact(3).map(|p| p == [0, 0, 0]).collect();
        if !luma.contains(&true) {
            return None;
        }
        let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
        let mut chroma = vec![false; cw * ch];
        for (i, _) in luma.iter().enumerate().filter(|(_, &m)| m) {
            chroma[(i / w / 2) * cw + (i % w) / 2] = true;
        }
        Some(PixelMask {
            width,
            height,
            luma,
            chroma,
        })
    }

    pub fn size(&self) -> (u32, u32) {
        (self.width, self.height)
    }

    /// Blacks out the hidden pixels of plane `plane` (0 = Y, 1 = U, 2 = V) of an I420 frame,
    /// `stride` bytes a row.
    pub fn apply_plane(&self, plane: usize, data: &mut [u8], stride: usize) {
        let (w, h) = (self.width as usize, self.height as usize);
        match plane {
            0 => paint(data, stride, &self.luma, (w, h), 16),
            1 | 2 => paint(
                data,
                stride,
                &self.chroma,
                (w.div_ceil(2), h.div_ceil(2)),
                128,
            ),
            _ => {}
        }
    }
}

fn paint(plane: &mut [u8], stride: usize, hidden: &[bool], (w, h): (usize, usize), value: u8) {
    for row in 0..h {
        let Some(line) = plane.get_mut(row * stride..row * stride + w) else {
            return;
        };
        for (px, &m) in line.iter_mut().zip(&hidden[row * w..(row + 1) * w]) {
            if m {
                *px = value;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Blacks out the left half (pixel columns below w/2).
    fn left_half() -> MaskFn {
        Arc::new(|px: &mut [u8], w: u32, _h: u32| {
            for row in px.chunks_exact_mut(w as usize * 3) {
                row[..(w as usize / 2) * 3].fill(0);
            }
        })
    }

    #[test]
    fn the_mask_blacks_out_luma_and_neutralises_chroma() {
        let (w, h) = (6u32, 4u32);
        let m = PixelMask::learn(&left_half(), w, h).unwrap();
        // Planes with padding: strides 8 and 4.
        let mut y = vec![200u8; 8 * 4];
        let mut u = vec![50u8; 4 * 2];
        let mut v = vec![60u8; 4 * 2];
        m.apply_plane(0, &mut y, 8);
        m.apply_plane(1, &mut u, 4);
        m.apply_plane(2, &mut v, 4);
        for row in 0..4 {
            assert_eq!(&y[row * 8..row * 8 + 6], &[16, 16, 16, 200, 200, 200]);
            // Padding untouched.
            assert_eq!(&y[row * 8 + 6..row * 8 + 8], &[200, 200]);
        }
        // Chroma column 1 covers luma columns 2 and 3: one of them hidden.
        for row in 0..2 {
            assert_eq!(&u[row * 4..row * 4 + 3], &[128, 128, 50]);
            assert_eq!(&v[row * 4..row * 4 + 3], &[128, 128, 60]);
        }
    }

    #[test]
    fn a_privacy_mask_hides_the_same_pixels_in_a_clip() {
        let square = vec![(0.25, 0.25), (0.75, 0.25), (0.75, 0.75), (0.25, 0.75)];
        let privacy = crate::evidence::PrivacyMask::new(vec![square]).unwrap();
        let m = PixelMask::learn(&from_privacy_mask(privacy), 8, 8).unwrap();
        let mut y = vec![200u8; 64];
        m.apply_plane(0, &mut y, 8);
        let hidden: Vec<usize> = (0..64).filter(|&i| y[i] == 16).collect();
        let expected: Vec<usize> = (2..6)
            .flat_map(|r| (2..6).map(move |c| r * 8 + c))
            .collect();
        assert_eq!(hidden, expected);
    }

    #[test]
    fn a_mask_that_hides_nothing_is_none() {
        let nothing: MaskFn = Arc::new(|_: &mut [u8], _: u32, _: u32| {});
        assert!(PixelMask::learn(&nothing, 8, 8).is_none());
    }
}
