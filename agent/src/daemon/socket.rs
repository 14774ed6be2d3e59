//! The status API's unix socket: owned by the agent's user (root on a
//! host), mode 0660, and in `status_socket_group` when the configuration
//! names one, so an operator's group can read the status without root.

use std::ffi::CString;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// The socket's mode: the owner and the group read and write, nobody else.
pub const MODE: u32 = 0o660;

/// The id of the group `name` (a name, or a number as `chown` takes one).
pub fn group_id(name: &str) -> Result<u32, String> {
    if let Ok(gid) = name.parse::<u32>() {
        return Ok(gid);
    }
    let cname = CString::new(name).map_err(|_| format!("{name:?} is not a group name"))?;
    // SAFETY: a struct of integers and pointers, valid all zero.
    let mut group: libc::group = unsafe { std::mem::zeroed() };
    let mut buf = vec![0 as libc::c_char; 16 * 1024];
    let mut result: *mut libc::group = std::ptr::null_mut();
    // SAFETY: getgrnam_r writes only into group and buf, whose sizes we pass.
    let rc = unsafe {
        libc::getgrnam_r(
            cname.as_ptr(),
            &mut group,
            buf.as_mut_ptr(),
            buf.len(),
            &mut result,
        )
    };
    if rc != 0 {
        return Err(format!(
            "cannot look up group {name:?}: {}",
            io::Error::from_raw_os_error(rc)
        ));
    }
    if result.is_null() {
        return Err(format!("there is no group {name:?} on this host"));
    }
    Ok(group.gr_gid)
}

/// Binds `path` afresh, then gives it [`MODE`] and the group `gid`.
pub fn bind(path: &Path, gid: Option<u32>) -> io::Result<tokio::net::UnixListener> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    // A socket left by a previous run would make bind fail.
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    let listener = tokio::net::UnixListener::bind(path)?;
    if let Some(gid) = gid {
        std::os::unix::fs::chown(path, None, Some(gid))?;
    }
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(MODE))?;
    Ok(listener)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    #[test]
    fn groups_are_found_by_name_or_number_and_a_missing_one_is_named() {
        assert_eq!(group_id("0"), Ok(0));
        assert_eq!(group_id("root"), Ok(0));
        let err = group_id("slipway-no-such-group").unwrap_err();
        assert!(err.contains("slipway-no-such-group"), "{err}");
    }

    #[tokio::test]
    async fn the_socket_is_0660_in_its_group() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run/status.sock");
        let gid = std::fs::metadata(dir.path()).unwrap().gid();
        let _listener = bind(&path, Some(gid)).unwrap();
        let meta = std::fs::metadata(&path).unwrap();
        assert_eq!(meta.mode() & 0o777, MODE);
        assert_eq!(meta.gid(), gid);
        // A second run replaces the socket the first one left.
        drop(_listener);
        bind(&path, None).unwrap();
    }
}
