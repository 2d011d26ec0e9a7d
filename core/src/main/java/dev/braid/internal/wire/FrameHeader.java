package dev.braid.internal.wire;

/**
 * Layout of a libvirt RPC message header, as braid writes and reads it.
 *
 * <pre>
 *   0                   1                   2                   3
 *   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |            length (u32, whole message, this word included)    |  0
 *  +---------------------------------------------------------------+
 *  |                         prog (u32)                            |  4
 *  +---------------------------------------------------------------+
 *  |                         vers (u32)                            |  8
 *  +---------------------------------------------------------------+
 *  |                         proc (i32)                            | 12
 *  +---------------------------------------------------------------+
 *  |                         type (i32)                            | 16
 *  +---------------------------------------------------------------+
 *  |                        serial (u32)                           | 20
 *  +---------------------------------------------------------------+
 *  |                        status (i32)                           | 24
 *  +---------------------------------------------------------------+
 *  |                    payload (length - 28 bytes)               ...| 28
 *  +---------------------------------------------------------------+
 * </pre>
 *
 * All words are big-endian (XDR). A message is never shorter than {@link #HEADER_LENGTH}.
 */
public final class FrameHeader {
    public static final int LENGTH_OFFSET = 0;
    public static final int PROG_OFFSET = 4;
    public static final int VERS_OFFSET = 8;
    public static final int PROC_OFFSET = 12;
    public static final int TYPE_OFFSET = 16;
    public static final int SERIAL_OFFSET = 20;
    public static final int STATUS_OFFSET = 24;
    public static final int PAYLOAD_OFFSET = 28;

    /** Bytes of the length word. */
    public static final int LENGTH_FIELD_LENGTH = 4;
    /** Bytes of a whole header, length word included: the smallest legal message. */
    public static final int HEADER_LENGTH = PAYLOAD_OFFSET;

    /** libvirt 9.x's largest message ({@code VIR_NET_MESSAGE_MAX}), braid's default limit. */
    public static final int DEFAULT_MAX_MESSAGE = 33_554_432;
    /** libvirt's largest stream data payload ({@code VIR_NET_MESSAGE_LEGACY_PAYLOAD_MAX}). */
    public static final int MAX_STREAM_PAYLOAD = 262_120;

    /** Message types (libvirt's {@code virNetMessageType}). */
    public static final int TYPE_CALL = 0;
    public static final int TYPE_REPLY = 1;
    public static final int TYPE_MESSAGE = 2;
    public static final int TYPE_STREAM = 3;
    public static final int TYPE_CALL_WITH_FDS = 4;
    public static final int TYPE_REPLY_WITH_FDS = 5;
    public static final int TYPE_STREAM_HOLE = 6;

    /** Message status (libvirt's {@code virNetMessageStatus}). */
    public static final int STATUS_OK = 0;
    public static final int STATUS_ERROR = 1;
    public static final int STATUS_CONTINUE = 2;

    private FrameHeader() {
    }

    public static String typeName(final int type) {
        return switch (type) {
            case TYPE_CALL -> "CALL";
            case TYPE_REPLY -> "REPLY";
            case TYPE_MESSAGE -> "MESSAGE";
            case TYPE_STREAM -> "STREAM";
            case TYPE_CALL_WITH_FDS -> "CALL_WITH_FDS";
            case TYPE_REPLY_WITH_FDS -> "REPLY_WITH_FDS";
            case TYPE_STREAM_HOLE -> "STREAM_HOLE";
            default -> "type " + type;
        };
    }

    public static String statusName(final int status) {
        return switch (status) {
            case STATUS_OK -> "OK";
            case STATUS_ERROR -> "ERROR";
            case STATUS_CONTINUE -> "CONTINUE";
            default -> "status " + status;
        };
    }
}
