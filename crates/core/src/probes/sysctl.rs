//! sysctl values read in process with `sysctlbyname(3)`. A fork+exec of `/usr/sbin/sysctl` costs
//! about a millisecond of CPU on macOS and a sample needed five of them; the values are rendered
//! as `sysctl -n NAME` prints them, so the parsers that read captured `sysctl` output (report
//! bundles, the fixtures) read these too.

use super::ProbeError;
use std::ffi::CString;

fn os_error(name: &str, reason: impl std::fmt::Display) -> ProbeError {
    ProbeError::Command {
        command: format!("sysctlbyname {name}"),
        reason: reason.to_string(),
    }
}

/// The value's bytes as the kernel returns them.
fn value_bytes(name: &str) -> Result<Vec<u8>, ProbeError> {
    let c_name = CString::new(name).map_err(|e| os_error(name, e))?;
    let mut size: libc::size_t = 0;
    // SAFETY: `c_name` is NUL-terminated and outlives the call; a null buffer asks for the size.
    let rc = unsafe {
        libc::sysctlbyname(
            c_name.as_ptr(),
            std::ptr::null_mut(),
            &mut size,
            std::ptr::null_mut(),
            0,
        )
    };
    if rc != 0 {
        return Err(os_error(name, std::io::Error::last_os_error()));
    }
    let mut buffer = vec![0u8; size];
    // SAFETY: `buffer` has `size` writable bytes and the kernel writes at most `size` of them.
    let rc = unsafe {
        libc::sysctlbyname(
            c_name.as_ptr(),
            buffer.as_mut_ptr().cast(),
            &mut size,
            std::ptr::null_mut(),
            0,
        )
    };
    if rc != 0 {
        return Err(os_error(name, std::io::Error::last_os_error()));
    }
    buffer.truncate(size);
    Ok(buffer)
}

/// An integer sysctl (`hw.memsize`, `iogpu.wired_limit_mb`, …) as `sysctl -n` prints it.
pub fn integer(name: &str) -> Result<String, ProbeError> {
    let bytes = value_bytes(name)?;
    let value = match bytes.as_slice() {
        [a, b, c, d] => i64::from(i32::from_ne_bytes([*a, *b, *c, *d])),
        bytes => match <[u8; 8]>::try_from(bytes) {
            Ok(eight) => i64::from_ne_bytes(eight),
            Err(_) => return Err(os_error(name, format!("{} bytes is not an integer", bytes.len()))),
        },
    };
    Ok(value.to_string())
}

/// A string sysctl (`machdep.cpu.brand_string`).
pub fn text(name: &str) -> Result<String, ProbeError> {
    let bytes = value_bytes(name)?;
    Ok(String::from_utf8_lossy(&bytes).trim_end_matches('\0').to_owned())
}

/// `vm.swapusage`: (total, used) bytes, read from the kernel's `xsw_usage` (exact, where the tool
/// prints megabytes to two decimals).
pub fn swap_usage() -> Result<(u64, u64), ProbeError> {
    let bytes = value_bytes("vm.swapusage")?;
    if bytes.len() != std::mem::size_of::<libc::xsw_usage>() {
        return Err(os_error(
            "vm.swapusage",
            format!("{} bytes, not an xsw_usage", bytes.len()),
        ));
    }
    // SAFETY: the buffer holds exactly one xsw_usage (checked above); it may be unaligned.
    let usage: libc::xsw_usage = unsafe { std::ptr::read_unaligned(bytes.as_ptr().cast()) };
    Ok((usage.xsu_total, usage.xsu_used))
}
