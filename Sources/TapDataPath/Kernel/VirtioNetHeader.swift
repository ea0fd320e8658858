import SystemPackage
import TapSystem
/// struct virtio_net_hdr (and its num_buffers field): what travels before each
/// frame on a queue with IFF_VNET_HDR, little-endian as virtio 1.0 and the
/// kernel's default on x86 have it. On a received frame it says what the
/// kernel left undone (a checksum to finish, a segmentation to do) under the
/// offloads the queue accepted; on a frame written it asks the kernel to do it.
public struct VirtioNetHeader: Equatable, Sendable {
    /// The bits of the flags byte (VIRTIO_NET_HDR_F_*).
    public struct Flags: OptionSet, Hashable, Sendable {
        public let rawValue: UInt8
        public init(rawValue: UInt8) { self.rawValue = rawValue }
        /// VIRTIO_NET_HDR_F_NEEDS_CSUM: the checksum from `checksumStart` is to
        /// be finished and written at `checksumStart + checksumOffset`.
        public static let needsChecksum = Flags(rawValue: 1)
        /// VIRTIO_NET_HDR_F_DATA_VALID: the checksum was verified.
        public static let dataValid = Flags(rawValue: 2)
    }

    /// gso_type: the segmentation the frame still needs.
    public enum Segmentation: UInt8, Sendable {
        case none = 0, tcp4 = 1, udp = 3, tcp6 = 4, udpL4 = 5
    }

    /// flags: a checksum to finish, or one verified.
    public var flags: Flags = []
    /// gso_type without the ECN bit.
    public var segmentation: Segmentation = .none
    /// VIRTIO_NET_HDR_GSO_ECN, the bit beside gso_type.
    public var ecn = false
    /// hdr_len: the length of the headers before the payload.
    public var headerLength: UInt16 = 0
    /// gso_size: the payload of each segment.
    public var segmentSize: UInt16 = 0
    /// csum_start: the offset in the frame where checksumming starts.
    public var checksumStart: UInt16 = 0
    /// csum_offset: where the checksum goes, counted from `checksumStart`.
    public var checksumOffset: UInt16 = 0
    /// num_buffers (12 bytes and more): how many buffers a merged frame spans.
    public var buffers: UInt16 = 0

    /// A header asking nothing of the kernel: a complete frame.
    public init() {}

    /// Decodes the header at the start of `bytes` (10 bytes at least; 12 for `buffers`).
    /// Throws `TapError.malformedHeader` for a shorter buffer or an unknown gso_type.
    public init(bytes: UnsafeRawBufferPointer) throws(TapError) {
        guard bytes.count >= 10 else { throw .malformedHeader(.tooShort(bytes.count)) }
        func half(_ offset: Int) -> UInt16 { UInt16(bytes[offset]) | UInt16(bytes[offset + 1]) << 8 }
        flags = Flags(rawValue: bytes[0])
        guard let segmentation = Segmentation(rawValue: bytes[1] & 0x7f) else {
            throw .malformedHeader(.unknownGSOType(bytes[1] & 0x7f))
        }
        self.segmentation = segmentation
        ecn = bytes[1] & 0x80 != 0
        headerLength = half(2)
        segmentSize = half(4)
        checksumStart = half(6)
        checksumOffset = half(8)
        buffers = bytes.count >= 12 ? half(10) : 0
    }

    /// Writes the header into the start of `bytes`, zeroing what lies beyond
    /// its fields (the hash report and tunnel fields of 20 and 24 bytes).
    public func encode(into bytes: UnsafeMutableRawBufferPointer) {
        func put(_ value: UInt16, _ offset: Int) {
            guard offset + 1 < bytes.count else { return }
            bytes[offset] = UInt8(truncatingIfNeeded: value)
            bytes[offset + 1] = UInt8(truncatingIfNeeded: value >> 8)
        }
        guard let base = bytes.baseAddress else { return }
        base.initializeMemory(as: UInt8.self, repeating: 0, count: bytes.count)
        guard bytes.count >= 2 else { return }
        bytes[0] = flags.rawValue
        bytes[1] = segmentation.rawValue | (ecn ? 0x80 : 0)
        put(headerLength, 2)
        put(segmentSize, 4)
        put(checksumStart, 6)
        put(checksumOffset, 8)
        put(buffers, 10)
    }
}
