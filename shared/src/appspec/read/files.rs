//! The `files` entries: what Install copies where.

use std::path::{Component, Path};

use super::{FILE_KEYS, Reader};
use crate::appspec::FileMapping;
use crate::yaml::Node;

impl Reader<'_> {
    pub(super) fn file_mapping(&mut self, node: &Node) -> Option<FileMapping> {
        let fields = self.mapping(node, "a `files` entry", FILE_KEYS)?;
        let source = self.required(&fields, "source", "a `files` entry");
        let destination = self.required(&fields, "destination", "a `files` entry");
        let source = self.string(source?, "source");
        let destination_node = destination?;
        let destination = self.string(destination_node, "destination")?;
        if !destination.starts_with('/') {
            self.error(
                destination_node.pos,
                format!("`destination: {destination}` is not an absolute path"),
                Some("the destination is a directory on the host, such as /srv/app".into()),
            );
            return None;
        }
        if Path::new(&destination)
            .components()
            .any(|c| c == Component::ParentDir)
        {
            // The agent makes each missing ancestor as written, `..`
            // included, and so tries to make a directory that exists.
            self.error(
                destination_node.pos,
                format!("`destination: {destination}` has a `..`, which fails Install"),
                Some("write the directory without `..`".into()),
            );
            return None;
        }
        Some(FileMapping {
            source: source?,
            destination,
            pos: node.pos,
        })
    }
}
