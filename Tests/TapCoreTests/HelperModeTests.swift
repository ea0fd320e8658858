import XCTest
import Glibc
@testable import TapCore
@testable import tapctl
@testable import TapDataPath
import SystemPackage
@testable import TapSystem

/// Privileged-helper mode against the fake kernel: CAP_NET_ADMIN permitted
/// but not effective, so attaching meets the kernel's owner check, and the
/// device behind a name changes at the worst moment (after tapctl read it,
/// before it attached), as another user who stops the helper could arrange.
final class HelperModeTests: XCTestCase {
    private static let rules = """
        allow all device tap*
        allow all bridge br0
        deny user:1000 device tap0
        """

    /// uid 1000's own tap3 (index 5), read by tapctl and then replaced by uid
    /// 2000's tap3 (index 9), or by `replacement`.
    private func kernel(replacement: FakeKernel.Device = .init(index: 9, owner: 2000)) -> FakeKernel {
        let kernel = FakeKernel()
        kernel.devices = ["tap3": .init(index: 5, owner: 1000)]
        kernel.deviceQueues = 0
        kernel.netAdminEffective = false
        kernel.afterFirstLookup = { $0.devices?["tap3"] = replacement }
        return kernel
    }

    private func helper(_ kernel: FakeKernel) throws -> TapControl {
        TapControl(system: kernel.system, policy: HelperPolicy(rules: try AccessList(parsing: Self.rules), uid: 1000, groups: [1000]))
    }

    private var mtu: LinkSettings {
        var settings = LinkSettings()
        settings.mtu = 1400
        return settings
    }

    /// Every command that acts on an existing device, with the name taken over by another user.
    func testAnotherUsersDeviceBehindTheNameIsRefusedByTheKernel() throws {
        let tap3 = try InterfaceName("tap3")
        let operations: [(String, (TapControl) throws -> Void)] = [
            ("set", { _ = try $0.set(self.mtu, on: .name(tap3)) }),
            ("offload", { control in
                _ = try control.withTarget(.name(tap3), opened: {}) { (tun, link) throws(TapError) in
                    try control.setOffloads([.csum], on: tun, device: DescriptorDevice(name: link.name, flags: [], namespace: .current))
                }
            }),
            ("exec", { _ = try $0.open(HandoffRequest(name: tap3)) }),
            ("delete", { _ = try $0.delete(.names([tap3])) }),
            ("probe", { _ = try $0.probe(.name(tap3), opened: {}) }),
        ]
        for (name, operation) in operations {
            let kernel = kernel()
            XCTAssertThrowsError(try operation(try helper(kernel)), name) {
                // The owner named is whichever the last read saw: the message's detail, not the decision.
                guard case .notPermitted("tap3", _, nil) = $0 as? TapError else { return XCTFail("\(name): \($0)") }
            }
            XCTAssertFalse(kernel.calls.contains("RTM_NEWLINK"), "\(name): \(kernel.calls)")
            XCTAssertFalse(kernel.calls.contains("TUNSETPERSIST"), name)
            XCTAssertEqual(kernel.calls.prefix { $0 != "TUNSETIFF" }.filter { $0.hasPrefix("raise") }, [],
                           "\(name): the attach runs without CAP_NET_ADMIN")
            XCTAssertTrue(Set(kernel.opened.indices.map { CInt(100 + $0) }).isSubset(of: Set(kernel.closedFiles)), name)
        }
    }

    /// A device the caller may attach, but not the one tapctl read (its own,
    /// deleted and made again): nothing is changed on it.
    func testADifferentDeviceUnderTheSameNameChangesNothing() throws {
        let tap3 = try InterfaceName("tap3")
        for effective in [false, true] {
            let kernel = kernel(replacement: .init(index: 9, owner: effective ? 2000 : 1000))
            // With CAP_NET_ADMIN in effect (as before this check) the kernel lets
            // the attach through; the identity check after it still refuses.
            kernel.netAdminEffective = effective
            XCTAssertThrowsError(try helper(kernel).set(mtu, on: .name(tap3))) {
                XCTAssertEqual($0 as? TapError, .identityChanged("tap3"))
                XCTAssertEqual(($0 as? TapError)?.message,
                               "tap3 changed (it was removed, renamed or made again) while tapctl was opening it; nothing was changed")
            }
            XCTAssertFalse(kernel.calls.contains("RTM_NEWLINK"), "\(kernel.calls)")
            XCTAssertThrowsError(try helper(self.kernel(replacement: .init(index: 9, owner: 1000))).delete(.names([tap3])))
        }
    }

    /// The calls that need CAP_NET_ADMIN get it for themselves and nothing else does.
    func testPrivilegeIsRaisedOnlyToCreateAndChange() throws {
        let kernel = FakeKernel()
        kernel.devices = ["tap0": .init(index: 1, owner: 0)]
        kernel.netAdminEffective = false
        var request = CreateRequest(name: try InterfaceName("tap%d"))
        request.link.mtu = 1400
        XCTAssertEqual(try helper(kernel).create(request).name, "tap1")
        let persist = try XCTUnwrap(kernel.calls.firstIndex(of: "TUNSETPERSIST"))
        XCTAssertEqual(Array(kernel.calls[..<persist]), [
            "open", "raise CAP_NET_ADMIN", "TUNSETIFF", "lower CAP_NET_ADMIN", "TUNSETOWNER",
            "TUNGETIFF",  // the name the kernel gave
            "socket", "RTM_GETLINK",  // checked as made
            "socket", "RTM_GETLINK",  // its index, for the record of its maker
            "socket", "RTM_GETLINK",  // the devices made for the caller, for the limit
            "raise CAP_NET_ADMIN", "socket", "RTM_NEWLINK", "lower CAP_NET_ADMIN",  // the alias
            "socket", "RTM_GETLINK",  // the device to configure
            "socket", "RTM_GETLINK",  // the gate reads it again, by index
            "socket",  // the gate's look at its bridges: it has none
            "raise CAP_NET_ADMIN", "socket", "RTM_NEWLINK", "lower CAP_NET_ADMIN",  // the MTU
        ])
        XCTAssertFalse(kernel.netAdminEffective)
    }

    /// Rules are matched against the name the kernel gave, not the template:
    /// a denied result is removed before it is persistent or handed out.
    func testDenyRulesMatchTheResolvedName() throws {
        for operation in ["create", "exec", "bridge-helper"] {
            let kernel = FakeKernel()
            kernel.devices = ["br0": .init(index: 1, kind: "bridge")]
            kernel.netAdminEffective = false
            let control = try helper(kernel)
            let template = try InterfaceName("tap%d")
            XCTAssertThrowsError(try {
                switch operation {
                case "create": _ = try control.create(CreateRequest(name: template))
                case "exec":
                    var request = HandoffRequest(name: template)
                    request.create = CreateRequest(name: template)
                    _ = try control.open(request)
                default: _ = try control.bridgeHelper(bridge: "br0", vnetHeader: true, socket: 5)
                }
            }(), operation) {
                XCTAssertEqual($0 as? TapError, .accessDenied("tap0", .deviceNotAllowed(uid: 1000)), operation)
            }
            XCTAssertFalse(kernel.calls.contains("TUNSETPERSIST"), operation)
            XCTAssertFalse(kernel.calls.contains("sendmsg"), operation)
            XCTAssertTrue(Set(kernel.opened.indices.map { CInt(100 + $0) }).isSubset(of: Set(kernel.closedFiles)), operation)
        }
    }

    /// Addresses, routes, traffic control and CNI tags are root's: the gate
    /// refuses them in helper mode, with an access list or without, before
    /// anything is raised.
    func testTheGateRefusesSandboxNetworkingInHelperMode() throws {
        for control in [try helper(kernel()), TapControl(system: kernel().system, helperMode: true)] {
            XCTAssertThrowsError(try control.tag("tap3", as: "tapctl cni c1 tap3")) {
                XCTAssertEqual($0 as? TapError, .accessDenied("tap3", .rootOnly))
            }
            XCTAssertThrowsError(try control.addAddress(try XCTUnwrap(IPPrefix("10.0.0.2/24")), to: "tap3")) {
                XCTAssertEqual($0 as? TapError, .accessDenied("tap3", .rootOnly))
            }
        }
        let kernel = kernel()
        _ = try? TapControl(system: kernel.system, helperMode: true).redirect(between: "tap3", and: "tap3")
        XCTAssertFalse(kernel.calls.contains("raise CAP_NET_ADMIN"), "nothing raised")
    }
}
