import XCTest
@testable import TapCore

/// The JSON reader the CNI plugin reads configurations and prevResults
/// with, on the shapes of SPEC.md's examples, and on what is not JSON.
final class JSONReaderTests: XCTestCase {
    private func parse(_ text: String) throws -> JSON { try JSON.parse(Array(text.utf8)) }

    /// The request the spec's ADD example passes its second plugin: a
    /// runtimeConfig and a prevResult.
    private let request = """
        {
          "cniVersion": "1.1.0",
          "name": "dbnet",
          "type": "tuning",
          "sysctl": { "net.core.somaxconn": "500" },
          "runtimeConfig": { "mac": "00:11:22:33:44:66" },
          "prevResult": {
            "ips": [ { "address": "10.1.0.5/16", "gateway": "10.1.0.1", "interface": 2 } ],
            "routes": [ { "dst": "0.0.0.0/0" } ],
            "interfaces": [
              { "name": "cni0", "mac": "00:11:22:33:44:55" },
              { "name": "veth3243", "mac": "55:44:33:22:11:11" },
              { "name": "eth0", "mac": "99:88:77:66:55:44", "sandbox": "/var/run/netns/blue" }
            ],
            "dns": { "nameservers": [ "10.1.0.1" ] }
          }
        }
        """

    func testTheSpecsAddRequest() throws {
        let config = try parse(request)
        XCTAssertEqual(config["cniVersion"]?.stringValue, "1.1.0")
        XCTAssertEqual(config["runtimeConfig"]?["mac"]?.stringValue, "00:11:22:33:44:66")
        let interfaces = try XCTUnwrap(config["prevResult"]?["interfaces"]?.elements)
        XCTAssertEqual(interfaces.compactMap { $0["name"]?.stringValue }, ["cni0", "veth3243", "eth0"])
        XCTAssertEqual(interfaces.last?["sandbox"]?.stringValue, "/var/run/netns/blue")
        XCTAssertEqual(config["prevResult"]?["ips"]?.elements?.first?["interface"]?.integerValue, 2)
        XCTAssertEqual(config.members?.map(\.0), ["cniVersion", "name", "type", "sysctl", "runtimeConfig", "prevResult"], "key order kept")
    }

    func testWritingWhatWasReadChangesNothingButSpace() throws {
        let config = try parse(request)
        XCTAssertEqual(try JSON.parse(Array(config.text.utf8)), config)
        let numbers = #"{"a":[0,-1,2.50,1e3,-0.5E-7,12345678901234567890],"b":{"":null,"t":true,"f":false}}"#
        XCTAssertEqual(try parse(numbers).text, numbers, "numbers keep their text, however many digits")
    }

    func testStringsAndEscapes() throws {
        XCTAssertEqual(try parse(#""a\"b\\c\/d\n\t\u00e9\ud83d\ude00""#).stringValue, "a\"b\\c/d\n\té😀")
        XCTAssertEqual(try parse(#""\ud83d""#).stringValue, "\u{fffd}", "a lone surrogate")
        XCTAssertEqual(try parse("\"é\"").stringValue, "é")
        XCTAssertEqual(try parse(#"{"k":"v","k":"w"}"#)["k"]?.stringValue, "w", "the last of a repeated key")
    }

    func testWhatIsNotJSON() {
        let cases = ["", "{", "{\"a\"}", "{\"a\":}", "[1,]", "[1 2]", "01", "1.", "-", "1e", "tru", "nul", "\"a", "\"\\x\"",
                     "\"a\u{1}\"", "{} {}", "{a:1}", "[" + String(repeating: "[", count: 600) + "]"]
        for text in cases {
            XCTAssertThrowsError(try parse(text), text)
        }
        XCTAssertThrowsError(try parse(#"{"cniVersion":"1.0.0","#)) {
            XCTAssertEqual($0 as? JSON.ParseError, JSON.ParseError(offset: 22, expected: "a key in quotes"))
        }
    }

    func testEditingAResult() throws {
        let result = try parse(#"{"cniVersion":"1.0.0","interfaces":[{"name":"eth0"}],"x":1}"#)
        let edited = result.setting("interfaces", .array((result["interfaces"]?.elements ?? []) + [.object([("name", .string("tap0"))])]))
            .setting("cniVersion", .string("1.1.0")).removing("x")
        XCTAssertEqual(edited.text, #"{"cniVersion":"1.1.0","interfaces":[{"name":"eth0"},{"name":"tap0"}]}"#)
    }
}
