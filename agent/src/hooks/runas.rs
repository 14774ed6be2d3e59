//! `runas`: the official agent runs `su USER -c SCRIPT`; we switch identity
//! in the child before exec (supplementary groups, gid, then uid) and set
//! the variables `su` sets (HOME, SHELL, USER, LOGNAME), so the script sees
//! the same thing without the agent needing a sudoers entry.

use std::ffi::{CStr, CString};
use std::io;

/// A user to run a script as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// The login name.
    pub name: String,
    /// The user id.
    pub uid: u32,
    /// The primary group id.
    pub gid: u32,
    /// Every group the user is in (initgroups' list).
    pub groups: Vec<u32>,
    /// The home directory.
    pub home: String,
    /// The login shell.
    pub shell: String,
}

impl User {
    /// The user called `name`, or `None` if there is none.
    pub fn lookup(name: &str) -> io::Result<Option<User>> {
        let Ok(cname) = CString::new(name) else {
            return Ok(None);
        };
        let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
        let mut buf = vec![0 as libc::c_char; 16 * 1024];
        let mut result: *mut libc::passwd = std::ptr::null_mut();
        // SAFETY: getpwnam_r writes only into pwd and buf, whose sizes we pass.
        let rc = unsafe {
            libc::getpwnam_r(
                cname.as_ptr(),
                &mut pwd,
                buf.as_mut_ptr(),
                buf.len(),
                &mut result,
            )
        };
        if rc != 0 {
            return Err(io::Error::from_raw_os_error(rc));
        }
        if result.is_null() {
            return Ok(None);
        }
        // SAFETY: on success the strings point into buf, NUL-terminated.
        let text =
            |p: *const libc::c_char| unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned();
        let (uid, gid) = (pwd.pw_uid, pwd.pw_gid);
        let mut groups = vec![0 as libc::gid_t; 256];
        let mut count = groups.len() as libc::c_int;
        // SAFETY: groups has room for count entries.
        let rc =
            unsafe { libc::getgrouplist(cname.as_ptr(), gid, groups.as_mut_ptr(), &mut count) };
        groups.truncate(if rc < 0 { 1 } else { count.max(0) as usize });
        if groups.is_empty() {
            groups.push(gid);
        }
        Ok(Some(User {
            name: name.to_owned(),
            uid,
            gid,
            groups,
            home: text(pwd.pw_dir),
            shell: text(pwd.pw_shell),
        }))
    }

    /// Becomes this user. Called in the child between fork and exec, so it
    /// only makes system calls.
    pub fn become_user(&self) -> io::Result<()> {
        // SAFETY: plain system calls on data owned by self.
        unsafe {
            if libc::setgroups(self.groups.len(), self.groups.as_ptr()) != 0 {
                return Err(io::Error::last_os_error());
            }
            if libc::setgid(self.gid) != 0 {
                return Err(io::Error::last_os_error());
            }
            if libc::setuid(self.uid) != 0 {
                return Err(io::Error::last_os_error());
            }
        }
        Ok(())
    }

    /// The variables `su` sets for the target user.
    pub fn env(&self) -> [(&'static str, String); 4] {
        [
            ("HOME", self.home.clone()),
            ("SHELL", self.shell.clone()),
            ("USER", self.name.clone()),
            ("LOGNAME", self.name.clone()),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_is_found_and_nobody_named_so_is_not() {
        let root = User::lookup("root").unwrap().unwrap();
        assert_eq!(root.uid, 0);
        assert!(User::lookup("no-such-user-slipway").unwrap().is_none());
    }
}
