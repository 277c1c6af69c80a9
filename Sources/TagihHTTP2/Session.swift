import CNGHTTP2
import NIOCore

/// What an nghttp2 session reports to the channel handler that drives it.
///
/// Every method is called synchronously from inside `nghttp2_session_mem_recv` or
/// `nghttp2_session_mem_send`, on the channel's event loop. Implementations must not
/// close the channel or delete the session from inside these calls.
protocol SessionDelegate: AnyObject {
    /// A HEADERS frame that opens a stream (server) or carries a response (client) begins.
    func sessionBeginHeaders(streamID: Int32) -> Int32
    /// One decoded header field of the current header block.
    func sessionHeader(streamID: Int32, name: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer) -> Int32
    /// A complete header block arrived; `endStream` when it also ended the peer's side.
    func sessionHeadersComplete(streamID: Int32, endStream: Bool) -> Int32
    /// A DATA frame with END_STREAM arrived (the peer's body is complete).
    func sessionRemoteEnded(streamID: Int32) -> Int32
    /// A chunk of body data arrived.
    func sessionDataChunk(streamID: Int32, data: UnsafeRawBufferPointer) -> Int32
    /// The stream closed (normally or reset); `errorCode` is the HTTP/2 error code.
    func sessionStreamClosed(streamID: Int32, errorCode: UInt32) -> Int32
    /// nghttp2 wants up to `buffer.count` body bytes for `streamID`. Returns the number of bytes copied,
    /// or `Session.deferred`; sets `eof` when the body is complete.
    func sessionReadData(streamID: Int32, into buffer: UnsafeMutableRawBufferPointer, eof: inout Bool) -> Int
    /// A GOAWAY frame arrived from the peer.
    func sessionGoAwayReceived(lastStreamID: Int32, errorCode: UInt32)
    /// This side sent a GOAWAY frame (for example because the peer broke a limit).
    func sessionGoAwaySent(errorCode: UInt32)
    /// The peer's SETTINGS frame (not an acknowledgement) arrived and nghttp2 applied it.
    func sessionSettingsReceived()
}

/// Settings and limits for a `Session`.
struct SessionSettings {
    var maxConcurrentStreams: UInt32 = 256
    var initialWindowSize: UInt32 = 1 << 20
    var connectionWindowSize: Int32 = 16 << 20
    var maxHeaderListSize: UInt32 = 64 << 10
    var maxFrameSize: UInt32 = 16384
    var resetBurst: UInt64 = 1000
    var resetRatePerSecond: UInt64 = 33
    var maxContinuations: Int = 8
    /// Inbound backpressure: the owner calls `consume` after the application took the bytes.
    var manualWindowUpdates = true
}

/// Errors from libnghttp2, with its own error text.
struct SessionError: Error, CustomStringConvertible {
    /// The (negative) libnghttp2 error code.
    var code: Int
    /// What was being done.
    var operation: String

    var description: String {
        let text = String(cString: nghttp2_strerror(Int32(truncatingIfNeeded: code)))
        return "nghttp2 \(operation) failed: \(text) (\(code))"
    }
}

/// Owns one `nghttp2_session` (the C object) and frees it in `deinit`.
///
/// Not thread-safe: used only on the event loop of the channel it serves.
final class Session {
    /// Returned by `SessionDelegate.sessionReadData` to park a stream until `resumeData`.
    static let deferred = Int(NGHTTP2_ERR_DEFERRED.rawValue)
    static let temporalCallbackFailure = NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE.rawValue
    static let callbackFailure = NGHTTP2_ERR_CALLBACK_FAILURE.rawValue

    private var raw: OpaquePointer?
    unowned(unsafe) let delegate: any SessionDelegate
    let isServer: Bool

    init(server: Bool, settings: SessionSettings, delegate: any SessionDelegate) throws {
        self.delegate = delegate
        self.isServer = server

        var callbacks: OpaquePointer?
        guard nghttp2_session_callbacks_new(&callbacks) == 0, let callbacks else {
            throw SessionError(code: -901, operation: "callbacks_new")
        }
        defer { nghttp2_session_callbacks_del(callbacks) }
        Session.install(callbacks)

        var option: OpaquePointer?
        guard nghttp2_option_new(&option) == 0, let option else {
            throw SessionError(code: -901, operation: "option_new")
        }
        defer { nghttp2_option_del(option) }
        if settings.manualWindowUpdates {
            nghttp2_option_set_no_auto_window_update(option, 1)
        }
        nghttp2_option_set_max_continuations(option, settings.maxContinuations)
        if server {
            nghttp2_option_set_stream_reset_rate_limit(option, settings.resetBurst, settings.resetRatePerSecond)
        }
        nghttp2_option_set_max_send_header_block_length(option, 64 << 10)

        var session: OpaquePointer?
        let rc: Int32
        // `self` is not fully initialised yet, so the user_data is set right after creation.
        if server {
            rc = nghttp2_session_server_new2(&session, callbacks, nil, option)
        } else {
            rc = nghttp2_session_client_new2(&session, callbacks, nil, option)
        }
        guard rc == 0, let session else { throw SessionError(code: Int(rc), operation: "session_new") }
        self.raw = session
        nghttp2_session_set_user_data(session, Unmanaged.passUnretained(self).toOpaque())

        var entries: [nghttp2_settings_entry] = [
            .init(settings_id: Int32(NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE.rawValue), value: settings.initialWindowSize),
            .init(settings_id: Int32(NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE.rawValue), value: settings.maxHeaderListSize),
            .init(settings_id: Int32(NGHTTP2_SETTINGS_NO_RFC7540_PRIORITIES.rawValue), value: 1),
        ]
        if server {
            entries.append(
                .init(
                    settings_id: Int32(NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS.rawValue),
                    value: settings.maxConcurrentStreams
                )
            )
        } else {
            entries.append(.init(settings_id: Int32(NGHTTP2_SETTINGS_ENABLE_PUSH.rawValue), value: 0))
        }
        let src = nghttp2_submit_settings(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), &entries, entries.count)
        guard src == 0 else { throw SessionError(code: Int(src), operation: "submit_settings") }
        let wrc = nghttp2_session_set_local_window_size(
            session,
            UInt8(NGHTTP2_FLAG_NONE.rawValue),
            0,
            settings.connectionWindowSize
        )
        guard wrc == 0 else { throw SessionError(code: Int(wrc), operation: "set_local_window_size") }
    }

    deinit {
        if let raw { nghttp2_session_del(raw) }
    }

    // MARK: driving

    /// Feeds received bytes. Returns a negative nghttp2 error code on a fatal connection error, else 0.
    func receive(_ buffer: ByteBuffer) -> Int {
        buffer.withUnsafeReadableBytes { bytes in
            guard let base = bytes.baseAddress, bytes.count > 0 else { return 0 }
            let rc = nghttp2_session_mem_recv(raw, base.assumingMemoryBound(to: UInt8.self), bytes.count)
            return rc < 0 ? rc : 0
        }
    }

    /// Serialises pending frames into `buffer`, up to about `limit` bytes.
    /// Returns a negative nghttp2 error code on a fatal error, else the number of bytes appended.
    func send(into buffer: inout ByteBuffer, limit: Int) -> Int {
        var total = 0
        while total < limit {
            var pointer: UnsafePointer<UInt8>?
            let n = nghttp2_session_mem_send(raw, &pointer)
            if n < 0 { return n }
            if n == 0 { break }
            if let pointer {
                total += buffer.writeBytes(UnsafeRawBufferPointer(start: pointer, count: n))
            }
        }
        return total
    }

    var wantsRead: Bool { nghttp2_session_want_read(raw) != 0 }
    var wantsWrite: Bool { nghttp2_session_want_write(raw) != 0 }
    var lastProcessedStreamID: Int32 { nghttp2_session_get_last_proc_stream_id(raw) }

    /// Submits a response (server). `hasBody == false` ends the stream with the headers.
    @discardableResult
    func submitResponse(streamID: Int32, status: Int, headers: [(String, String)], hasBody: Bool) -> Int32 {
        // Laid out in temporary (stack) storage: nghttp2 copies the names and values on submit.
        let statusString = statusText(status)
        var total = 7 + statusString.utf8.count
        for (name, value) in headers { total += name.utf8.count + value.utf8.count }
        let count = headers.count + 1
        return withUnsafeTemporaryAllocation(of: UInt8.self, capacity: total) { bytes in
            withUnsafeTemporaryAllocation(of: nghttp2_nv.self, capacity: count) { nva in
                var used = 0
                var index = 0
                func add(_ name: String, _ value: String, lowercasing: Bool) {
                    let nameStart = used
                    used += HeaderBlock.copy(name, to: bytes.baseAddress! + used, lowercasing: lowercasing)
                    let valueStart = used
                    used += HeaderBlock.copy(value, to: bytes.baseAddress! + used, lowercasing: false)
                    nva.initializeElement(
                        at: index,
                        to: nghttp2_nv(
                            name: bytes.baseAddress! + nameStart, value: bytes.baseAddress! + valueStart,
                            namelen: valueStart - nameStart, valuelen: used - valueStart,
                            flags: UInt8(NGHTTP2_NV_FLAG_NONE.rawValue)))
                    index += 1
                }
                add(":status", statusString, lowercasing: false)
                for (name, value) in headers { add(name, value, lowercasing: true) }
                if hasBody {
                    var provider = nghttp2_data_provider(
                        source: nghttp2_data_source(ptr: nil),
                        read_callback: Session.readCallback
                    )
                    return nghttp2_submit_response(raw, streamID, nva.baseAddress, count, &provider)
                }
                return nghttp2_submit_response(raw, streamID, nva.baseAddress, count, nil)
            }
        }
    }

    /// Submits a request (client). Returns the new stream id, or a negative error.
    func submitRequest(
        method: String,
        scheme: String,
        authority: String,
        path: String,
        headers: [(String, String)],
        hasBody: Bool
    ) -> Int32 {
        var block = HeaderBlock()
        block.append(":method", method)
        block.append(":scheme", scheme)
        block.append(":authority", authority)
        block.append(":path", path)
        for (name, value) in headers { block.append(name, value, lowercasing: true) }
        return block.withNameValues { nva, count in
            if hasBody {
                var provider = nghttp2_data_provider(
                    source: nghttp2_data_source(ptr: nil),
                    read_callback: Session.readCallback
                )
                return nghttp2_submit_request(raw, nil, nva, count, &provider, nil)
            }
            return nghttp2_submit_request(raw, nil, nva, count, nil, nil)
        }
    }

    func resumeData(streamID: Int32) {
        nghttp2_session_resume_data(raw, streamID)
    }

    func consume(streamID: Int32, bytes: Int) {
        guard bytes > 0 else { return }
        nghttp2_session_consume(raw, streamID, bytes)
    }

    func consumeConnection(bytes: Int) {
        guard bytes > 0 else { return }
        nghttp2_session_consume_connection(raw, bytes)
    }

    func resetStream(streamID: Int32, errorCode: UInt32) {
        nghttp2_submit_rst_stream(raw, UInt8(NGHTTP2_FLAG_NONE.rawValue), streamID, errorCode)
    }

    func submitShutdownNotice() {
        nghttp2_submit_shutdown_notice(raw)
    }

    func submitGoAway(errorCode: UInt32 = 0) {
        nghttp2_submit_goaway(raw, UInt8(NGHTTP2_FLAG_NONE.rawValue), lastProcessedStreamID, errorCode, nil, 0)
    }

    /// Terminates the session: GOAWAY with `errorCode`, after which it wants neither read nor write.
    func terminate(errorCode: UInt32) {
        nghttp2_session_terminate_session(raw, errorCode)
    }

    // MARK: C callbacks

    private static func owner(_ userData: UnsafeMutableRawPointer?) -> Session {
        Unmanaged<Session>.fromOpaque(userData!).takeUnretainedValue()
    }

    private static let readCallback: nghttp2_data_source_read_callback = {
        _, streamID, buf, length, dataFlags, _, userData in
        let session = Session.owner(userData)
        var eof = false
        let n = session.delegate.sessionReadData(
            streamID: streamID,
            into: UnsafeMutableRawBufferPointer(start: buf, count: length),
            eof: &eof
        )
        if eof, let dataFlags {
            dataFlags.pointee |= UInt32(NGHTTP2_DATA_FLAG_EOF.rawValue)
        }
        return n
    }

    private static func install(_ callbacks: OpaquePointer) {
        nghttp2_session_callbacks_set_on_begin_headers_callback(callbacks) { _, frame, userData in
            guard let frame else { return 0 }
            return Session.owner(userData).delegate.sessionBeginHeaders(streamID: frame.pointee.hd.stream_id)
        }
        nghttp2_session_callbacks_set_on_header_callback(callbacks) {
            _, frame, name, nameLength, value, valueLength, _, userData in
            guard let frame else { return 0 }
            return Session.owner(userData).delegate.sessionHeader(
                streamID: frame.pointee.hd.stream_id,
                name: UnsafeRawBufferPointer(start: name, count: nameLength),
                value: UnsafeRawBufferPointer(start: value, count: valueLength)
            )
        }
        nghttp2_session_callbacks_set_on_frame_recv_callback(callbacks) { _, frame, userData in
            guard let frame else { return 0 }
            let delegate = Session.owner(userData).delegate
            let header = frame.pointee.hd
            let endStream = header.flags & UInt8(NGHTTP2_FLAG_END_STREAM.rawValue) != 0
            switch UInt32(header.type) {
            case NGHTTP2_HEADERS.rawValue:
                return delegate.sessionHeadersComplete(streamID: header.stream_id, endStream: endStream)
            case NGHTTP2_DATA.rawValue:
                return endStream ? delegate.sessionRemoteEnded(streamID: header.stream_id) : 0
            case NGHTTP2_SETTINGS.rawValue:
                if header.flags & UInt8(NGHTTP2_FLAG_ACK.rawValue) == 0 { delegate.sessionSettingsReceived() }
                return 0
            case NGHTTP2_GOAWAY.rawValue:
                delegate.sessionGoAwayReceived(
                    lastStreamID: frame.pointee.goaway.last_stream_id,
                    errorCode: frame.pointee.goaway.error_code
                )
                return 0
            default:
                return 0
            }
        }
        nghttp2_session_callbacks_set_on_data_chunk_recv_callback(callbacks) {
            _, _, streamID, data, length, userData in
            Session.owner(userData).delegate.sessionDataChunk(
                streamID: streamID,
                data: UnsafeRawBufferPointer(start: data, count: length)
            )
        }
        nghttp2_session_callbacks_set_on_frame_send_callback(callbacks) { _, frame, userData in
            guard let frame, UInt32(frame.pointee.hd.type) == NGHTTP2_GOAWAY.rawValue else { return 0 }
            Session.owner(userData).delegate.sessionGoAwaySent(errorCode: frame.pointee.goaway.error_code)
            return 0
        }
        nghttp2_session_callbacks_set_on_stream_close_callback(callbacks) { _, streamID, errorCode, userData in
            Session.owner(userData).delegate.sessionStreamClosed(streamID: streamID, errorCode: errorCode)
        }
    }
}

/// HTTP status codes as text, without allocating for the common ones.
private func statusText(_ status: Int) -> String {
    switch status {
    case 200: "200"
    case 204: "204"
    case 400: "400"
    case 404: "404"
    case 500: "500"
    default: String(status)
    }
}

/// A header block laid out in one byte array so `nghttp2_nv` can point into it.
struct HeaderBlock {
    private var bytes: [UInt8] = []
    private var fields: [(nameStart: Int, nameLength: Int, valueStart: Int, valueLength: Int)] = []

    init() {
        bytes.reserveCapacity(256)
        fields.reserveCapacity(8)
    }

    mutating func append(_ name: String, _ value: String, lowercasing: Bool = false) {
        let nameStart = bytes.count
        if lowercasing {
            for byte in name.utf8 { bytes.append(byte >= 65 && byte <= 90 ? byte | 0x20 : byte) }
        } else {
            bytes.append(contentsOf: name.utf8)
        }
        let valueStart = bytes.count
        bytes.append(contentsOf: value.utf8)
        fields.append((nameStart, valueStart - nameStart, valueStart, bytes.count - valueStart))
    }

    /// Copies `text` to `out` (room for its UTF-8 length), ASCII upper case lowered when asked; returns the length.
    static func copy(_ text: String, to out: UnsafeMutablePointer<UInt8>, lowercasing: Bool) -> Int {
        var text = text
        return text.withUTF8 { utf8 in
            for (i, byte) in utf8.enumerated() {
                out[i] = lowercasing && byte >= 65 && byte <= 90 ? byte | 0x20 : byte
            }
            return utf8.count
        }
    }

    func withNameValues<R>(_ body: (UnsafeMutablePointer<nghttp2_nv>, Int) -> R) -> R {
        bytes.withUnsafeBufferPointer { storage in
            let base = UnsafeMutablePointer(mutating: storage.baseAddress ?? UnsafePointer(bitPattern: 1)!)
            var nva = fields.map { field in
                nghttp2_nv(
                    name: base + field.nameStart,
                    value: base + field.valueStart,
                    namelen: field.nameLength,
                    valuelen: field.valueLength,
                    flags: UInt8(NGHTTP2_NV_FLAG_NONE.rawValue)
                )
            }
            return nva.withUnsafeMutableBufferPointer { body($0.baseAddress!, $0.count) }
        }
    }
}
