import Glibc
import CLibcap

/// Giving up privilege with libcap. cap_set_proc acts on the calling thread only;
/// tapctl has one thread.
public enum Capabilities {
    /// Empties the bounding set (when CAP_SETPCAP allows it), the ambient set, and
    /// the effective, permitted and inheritable sets, in that order: the bounding
    /// set can only be lowered while CAP_SETPCAP is still effective.
    public static func dropAll() throws(TapError) {
        if hasEffective(CAP_SETPCAP) {
            for capability in 0..<cap_value_t(cap_max_bits()) where cap_get_bound(capability) >= 0 {
                guard cap_drop_bound(capability) == 0 else { throw .capabilities("bounding set", .current) }
            }
        }
        // cap_get_ambient fails on kernels without ambient capabilities (before 4.3).
        if cap_get_ambient(CAP_CHOWN) >= 0, cap_reset_ambient() != 0 {
            throw .capabilities("ambient set", .current)
        }
        guard let empty = cap_init() else { throw .capabilities("cap_init", .current) }
        defer { cap_free(UnsafeMutableRawPointer(empty)) }
        guard cap_set_proc(empty) == 0 else { throw .capabilities("cap_set_proc", .current) }
    }

    public static func hasEffective(_ capability: cap_value_t) -> Bool {
        guard let current = cap_get_proc() else { return false }
        defer { cap_free(UnsafeMutableRawPointer(current)) }
        var value = CAP_CLEAR
        return cap_get_flag(current, capability, CAP_EFFECTIVE, &value) == 0 && value == CAP_SET
    }
}
