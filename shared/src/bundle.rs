//! The bundle formats CodeDeploy accepts for an S3 revision.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// How a revision's archive is packed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BundleType {
    /// A plain tar archive.
    Tar,
    /// A gzip-compressed tar archive.
    Tgz,
    /// A zip archive.
    Zip,
}

impl BundleType {
    /// Every type, as the API lists them.
    pub const ALL: [BundleType; 3] = [BundleType::Tar, BundleType::Tgz, BundleType::Zip];

    /// The API's name: `tar`, `tgz` or `zip`.
    pub fn as_str(self) -> &'static str {
        match self {
            BundleType::Tar => "tar",
            BundleType::Tgz => "tgz",
            BundleType::Zip => "zip",
        }
    }

    /// The file extension a bundle of this type is uploaded with.
    pub fn extension(self) -> &'static str {
        match self {
            BundleType::Tar => "tar",
            BundleType::Tgz => "tar.gz",
            BundleType::Zip => "zip",
        }
    }

    /// The type a key's extension implies, if it implies one.
    pub fn from_key(key: &str) -> Option<BundleType> {
        let key = key.to_ascii_lowercase();
        if key.ends_with(".tar.gz") || key.ends_with(".tgz") {
            Some(BundleType::Tgz)
        } else if key.ends_with(".tar") {
            Some(BundleType::Tar)
        } else if key.ends_with(".zip") {
            Some(BundleType::Zip)
        } else {
            None
        }
    }
}

impl fmt::Display for BundleType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A bundle type name that is not `tar`, `tgz` or `zip`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown bundle type `{0}` (expected tar, tgz or zip)")]
pub struct UnknownBundleType(pub String);

impl FromStr for BundleType {
    type Err = UnknownBundleType;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| UnknownBundleType(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_and_print_as_the_api_spells_them() {
        for t in BundleType::ALL {
            assert_eq!(t.as_str().parse::<BundleType>(), Ok(t));
            assert_eq!(serde_json::to_string(&t).unwrap(), format!("\"{t}\""));
        }
        assert!("TGZ".parse::<BundleType>().is_err());
    }

    #[test]
    fn key_extensions_imply_a_type() {
        assert_eq!(BundleType::from_key("a/b.tar.gz"), Some(BundleType::Tgz));
        assert_eq!(BundleType::from_key("b.TGZ"), Some(BundleType::Tgz));
        assert_eq!(BundleType::from_key("b.tar"), Some(BundleType::Tar));
        assert_eq!(BundleType::from_key("b.zip"), Some(BundleType::Zip));
        assert_eq!(BundleType::from_key("b.gz"), None);
    }
}
