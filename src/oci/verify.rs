//! `verify`: would Istio load this image? The image is fetched as `pull` fetches it and read the
//! way Istio's agent reads it; the verdict and its reasons are in the [`FetchedImage`].

use super::pull::{FetchedImage, ImageSource, fetch};
use crate::progress::Reporter;

/// `wasmctl verify`: the image `source` names, as Istio would see it. A rejected image is not an
/// error here: the caller shows the reasons (see [`FetchedImage::rejection`]).
pub fn verify(source: &ImageSource, reporter: &dyn Reporter) -> crate::Result<FetchedImage> {
    Ok(fetch(source, reporter)?)
}
