/// RetortRuntime: what ships to a device. No package dependencies, no Foundation.
public enum RetortRuntimeInfo {
    public static let version = "0.1.0"
}
