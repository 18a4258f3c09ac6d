//! FNV-32a: the hash the deployment controller names pod templates with, and the kubelet derives
//! image sizes and digests from.

/// FNV-32a.
pub fn fnv32a(data: &[u8]) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for b in data {
        h ^= u32::from(*b);
        h = h.wrapping_mul(0x0100_0193);
    }
    h
}
