// Netlink and ethtool integers are in host byte order.
extension Array where Element == UInt8 {
    @inlinable package mutating func appendNative<T: FixedWidthInteger>(_ value: T) {
        Swift.withUnsafeBytes(of: value) { append(contentsOf: $0) }
    }
}

extension Collection where Element == UInt8, Index == Int {
    /// Reads an integer at an absolute index; callers check the bounds.
    @inlinable package func loadNative<T: FixedWidthInteger>(_: T.Type, at index: Int) -> T {
        var value: T = 0
        Swift.withUnsafeMutableBytes(of: &value) { raw in
            for byte in 0..<raw.count { raw[byte] = self[index + byte] }
        }
        return value
    }
}
