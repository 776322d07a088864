// A stand-in for swift-crypto's `Insecure.SHA1` in the fuzz build only, so the template language builds without
// BoringSSL. Its output is not SHA-1 (fuzzing checks that parsing and evaluation never trap, not hash values).
public enum Insecure {
    public enum SHA1 {
        public static func hash(data: [UInt8]) -> [UInt8] {
            var state = [UInt8](repeating: 0, count: 20)
            for (index, byte) in data.enumerated() { state[index % 20] = state[index % 20] &* 31 &+ byte }
            return state
        }
    }
}
