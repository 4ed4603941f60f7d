//! Compressed answers: which encoding a client gets for its
//! `Accept-Encoding`, and the two encoders (gzip by `flate2`, brotli by the
//! `brotli` crate). The response cache keeps each encoding it made with the
//! answer, so an answer is compressed at most once per encoding.

use std::io::Write;

/// Bodies smaller than this are sent as they are: gzip's header and
/// trailer alone are 18 bytes, and a short JSON body has little to find.
pub const MIN_BYTES: usize = 1024;

/// gzip's level: zlib's default, its usual trade of size for time. The
/// encoder is zlib-rs (flate2's `zlib-rs` backend): miniz_oxide, flate2's
/// default, sets up tables on every stream that cost more than compressing a
/// few kilobytes.
const GZIP_LEVEL: u32 = 6;

/// brotli's quality, 0 (fastest) to 11, for a body under
/// [`LARGE_BODY`]: those are most answers, compressed on every cache miss,
/// so the time is spent again and again; at this quality brotli is faster
/// than gzip and as small.
const BROTLI_QUALITY: u32 = 2;

/// brotli's quality for a body of [`LARGE_BODY`] or more (long product
/// pages): there the low qualities fall behind gzip in size, and bytes on
/// the wire count for more than the time, spent once per cached answer.
const BROTLI_QUALITY_LARGE: u32 = 5;

/// Where a body counts as large, in bytes.
const LARGE_BODY: usize = 64 * 1024;

/// brotli's window, as a power of two (the format's default).
const BROTLI_WINDOW: u32 = 22;

/// A content coding the service can send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Identity,
    Gzip,
    Brotli,
}

impl Encoding {
    /// Its name in `Accept-Encoding` and `Content-Encoding`.
    pub fn token(self) -> &'static str {
        match self {
            Encoding::Identity => "identity",
            Encoding::Gzip => "gzip",
            Encoding::Brotli => "br",
        }
    }

    /// The compressed coding named `token`, if the service makes it.
    pub fn from_token(token: &str) -> Option<Encoding> {
        if token.eq_ignore_ascii_case("gzip") || token.eq_ignore_ascii_case("x-gzip") {
            Some(Encoding::Gzip)
        } else if token.eq_ignore_ascii_case("br") {
            Some(Encoding::Brotli)
        } else {
            None
        }
    }
}

/// The encoding for a request's `Accept-Encoding`: the compressed one it
/// weighs highest (brotli before gzip when equal), identity when it names
/// neither, refuses both (`q=0`), or weighs `identity` higher.
pub fn negotiate(accept_encoding: Option<&str>) -> Encoding {
    let Some(header) = accept_encoding else {
        return Encoding::Identity;
    };
    let (mut brotli, mut gzip, mut identity, mut any) = (None, None, None, None);
    for item in header.split(',') {
        let mut parts = item.split(';');
        let token = parts.next().unwrap_or("").trim();
        let q = parts
            .filter_map(|p| p.trim().strip_prefix("q=").or(p.trim().strip_prefix("Q=")))
            .find_map(|q| q.trim().parse::<f32>().ok())
            .unwrap_or(1.0);
        let slot = match Encoding::from_token(token) {
            Some(Encoding::Brotli) => &mut brotli,
            Some(_) => &mut gzip,
            None if token.eq_ignore_ascii_case("identity") => &mut identity,
            None if token == "*" => &mut any,
            None => continue,
        };
        *slot = Some(q);
    }
    let brotli = brotli.or(any).unwrap_or(0.0);
    let gzip = gzip.or(any).unwrap_or(0.0);
    // Unnamed, identity is acceptable but the least preferred.
    let identity = identity.unwrap_or(0.0);
    if brotli > 0.0 && brotli >= gzip && brotli >= identity {
        Encoding::Brotli
    } else if gzip > 0.0 && gzip >= identity {
        Encoding::Gzip
    } else {
        Encoding::Identity
    }
}

/// `body` in `encoding`; `None` for identity (or if an encoder failed,
/// which writing to memory does not).
pub fn compress(encoding: Encoding, body: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(body.len() / 4);
    match encoding {
        Encoding::Identity => return None,
        Encoding::Gzip => {
            let mut encoder =
                flate2::write::GzEncoder::new(&mut out, flate2::Compression::new(GZIP_LEVEL));
            encoder.write_all(body).ok()?;
            encoder.finish().ok()?;
        }
        Encoding::Brotli => {
            let quality = if body.len() >= LARGE_BODY {
                BROTLI_QUALITY_LARGE
            } else {
                BROTLI_QUALITY
            };
            let mut encoder =
                brotli::CompressorWriter::new(&mut out, 64 * 1024, quality, BROTLI_WINDOW);
            encoder.write_all(body).ok()?;
            // Ends the stream; `flush` would only end a block.
            encoder.into_inner();
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::io::Read;

    use super::*;

    #[test]
    fn the_client_s_preference_wins() {
        use Encoding::*;
        for (header, expected) in [
            (None, Identity),
            (Some(""), Identity),
            // Chromium's and Firefox's.
            (Some("gzip, deflate, br, zstd"), Brotli),
            (Some("gzip, deflate, br"), Brotli),
            (Some("gzip"), Gzip),
            (Some("GZIP"), Gzip),
            (Some("deflate"), Identity),
            (Some("identity"), Identity),
            (Some("br;q=0.5, gzip;q=0.8"), Gzip),
            (Some("br;q=0, gzip;q=0"), Identity),
            (Some("gzip;q=0.5, identity;q=0.9"), Identity),
            (Some("*"), Brotli),
            (Some("*;q=0.1, br;q=0"), Gzip),
            (Some("identity;q=1, *;q=0"), Identity),
            (Some("gzip;q=bogus"), Gzip),
        ] {
            assert_eq!(negotiate(header), expected, "{header:?}");
        }
    }

    #[test]
    fn both_encodings_round_trip() {
        let body = br#"{"id":1,"name":"Camo Onesie"}"#.repeat(100);
        let gzip = compress(Encoding::Gzip, &body).unwrap();
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&gzip[..])
            .read_to_end(&mut out)
            .unwrap();
        assert_eq!(out, body);
        let brotli = compress(Encoding::Brotli, &body).unwrap();
        let mut out = Vec::new();
        brotli::Decompressor::new(&brotli[..], 4096)
            .read_to_end(&mut out)
            .unwrap();
        assert_eq!(out, body);
        assert!(compress(Encoding::Identity, &body).is_none());
    }
}
