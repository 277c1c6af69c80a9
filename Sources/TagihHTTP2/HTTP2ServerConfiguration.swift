import NIOCore

/// Everything an `HTTP2Server` can be tuned with. Every field has a default suited to streaming NDJSON.
public struct HTTP2ServerConfiguration: Sendable {
    /// Certificate and private key files (PEM) for TLS with ALPN `h2`.
    public struct TLSFiles: Sendable, Hashable {
        /// Path of the PEM certificate chain.
        public var certificatePath: String
        /// Path of the PEM private key.
        public var privateKeyPath: String

        /// Creates the pair.
        public init(certificatePath: String, privateKeyPath: String) {
            self.certificatePath = certificatePath
            self.privateKeyPath = privateKeyPath
        }
    }

    /// Token-bucket limit on RST_STREAM frames received (rapid-reset protection, CVE-2023-44487).
    public struct ResetRateLimit: Sendable, Hashable {
        /// Tokens available at once (and the bucket size). Default 1000.
        public var burst: Int
        /// Tokens regained per second. Default 33.
        public var ratePerSecond: Int

        /// Creates a limit.
        public init(burst: Int = 1000, ratePerSecond: Int = 33) {
            self.burst = burst
            self.ratePerSecond = ratePerSecond
        }
    }

    /// Address to bind. Default `127.0.0.1`.
    public var host: String = "127.0.0.1"
    /// Port to bind; 0 picks a free port (read it back with `HTTP2Server.localAddress`). Default 8080.
    public var port: Int = 8080
    /// TLS files; nil (the default) serves h2c with prior knowledge.
    public var tls: TLSFiles?
    /// SETTINGS_MAX_CONCURRENT_STREAMS per connection. Default 256.
    public var maxConcurrentStreams: Int = 256
    /// SETTINGS_INITIAL_WINDOW_SIZE: per-stream receive window, and the most request-body bytes
    /// buffered per stream. Default 1 MiB.
    public var initialWindowSize: Int = 1 << 20
    /// Connection-level receive window. Default 16 MiB.
    public var connectionWindowSize: Int = 16 << 20
    /// SETTINGS_MAX_HEADER_LIST_SIZE; a request whose header block is larger is reset. Default 64 KiB.
    public var maxHeaderListSize: Int = 64 << 10
    /// Longest inbound NDJSON line in bytes; longer lines get a per-line error. Default 1 MiB.
    public var maxLineLength: Int = 1 << 20
    /// Pending outbound bytes per stream above which `HTTP2ResponseWriter.write` suspends. Default 256 KiB.
    public var streamHighWaterMark: Int = 256 << 10
    /// A connection with no open stream and nothing received for this long is closed. Default 5 minutes.
    public var idleTimeout: TimeAmount = .minutes(5)
    /// Rapid-reset limit. Default burst 1000, 33 per second (nghttp2's defaults).
    public var resetRateLimit = ResetRateLimit()
    /// Most CONTINUATION frames accepted after one HEADERS frame. Default 8.
    public var maxContinuations: Int = 8
    /// How long live streams may run after graceful shutdown began before the server ends them with a
    /// `{"type":"error","code":"shutting_down",...}` line. Default 10 seconds.
    public var shutdownGracePeriod: TimeAmount = .seconds(10)
    /// Listen backlog. Default 1024.
    public var backlog: Int = 1024
    /// Headers added to every response the transport answers itself: the HTTP/1.1 gate's `505` and `400`, a
    /// stream's `413` (body too large) or `500` (a handler failed). The responder's own responses carry what it
    /// gives them. Default none; `tagih serve` adds `tagih-protocol: 1`.
    public var responseHeaders: [(name: String, value: String)] = []

    /// Creates a configuration with every default.
    public init() {}

    /// Creates a configuration for `host`:`port` with every other default.
    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    var connectionLimits: HTTP2ConnectionHandler.Limits {
        var limits = HTTP2ConnectionHandler.Limits()
        limits.maxHeaderListSize = maxHeaderListSize
        limits.maxLineLength = maxLineLength
        limits.streamHighWaterMark = streamHighWaterMark
        limits.shutdownGracePeriod = shutdownGracePeriod
        limits.responseHeaders = responseHeaders
        return limits
    }

    var sessionSettings: SessionSettings {
        var settings = SessionSettings()
        settings.maxConcurrentStreams = UInt32(clamping: maxConcurrentStreams)
        settings.initialWindowSize = UInt32(clamping: min(initialWindowSize, Int(Int32.max)))
        settings.connectionWindowSize = Int32(clamping: connectionWindowSize)
        settings.maxHeaderListSize = UInt32(clamping: maxHeaderListSize)
        settings.resetBurst = UInt64(max(0, resetRateLimit.burst))
        settings.resetRatePerSecond = UInt64(max(0, resetRateLimit.ratePerSecond))
        settings.maxContinuations = max(0, maxContinuations)
        settings.manualWindowUpdates = true
        return settings
    }
}
