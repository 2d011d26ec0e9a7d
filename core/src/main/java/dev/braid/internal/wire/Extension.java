package dev.braid.internal.wire;

import dev.braid.ProtocolException;

import java.nio.ByteBuffer;

/**
 * braid's extension program and libvirt's keepalive program: numbers and payload layouts.
 *
 * <p>braid's extensions travel as their own program, the way libvirt's keepalive does, so that a plain
 * libvirt peer, which does not know the program, answers the HELLO call with an ERROR reply and the
 * connection carries on in libvirt-compatible mode.
 *
 * <pre>
 * program BRAID_EXT  = 0x62726964 ("brid"), version 1
 *   proc 1  HELLO   CALL/REPLY   args and reply: braid_hello
 *   proc 2  CREDIT  MESSAGE      {unsigned serial; unsigned bytes}: the receiver of stream serial consumed
 *                                bytes; the sender may send that many more
 *   proc 3  DRAIN   MESSAGE      {unsigned last_serial}: the sender starts no new calls or streams here.
 *                                Server to client: the last CALL it read and will answer normally; every
 *                                later CALL is refused with a drain error. Client to server: the last
 *                                CALL it sent (it sends none after this frame). Feature bit 4.
 *   proc 4  RELEASE MESSAGE      {unsigned serial}: server to client, the stream's server side is done
 *                                (handler returned): the client may reuse its stream slot
 *   proc 5  PING    MESSAGE      {unsigned hyper token}: answer with a PONG carrying the same token, at once
 *                                (window auto-tuning measures the round trip with it)
 *   proc 6  PONG    MESSAGE      {unsigned hyper token}: the answer to a PING
 *   proc 7  WINDOW  MESSAGE      {unsigned window}: from now on the sender of this message grants each of
 *                                the receiver's streams, open and future, a window of {@code window} bytes;
 *                                the difference from the previous window is credit given (or taken back)
 * (5-7 only when both HELLOs carry FEATURE_WINDOW_TUNING, feature bit 8)
 *
 * struct braid_hello {              offset
 *     unsigned version;              0   extension protocol version (1)
 *     unsigned features;             4   feature bits the sender supports
 *     unsigned max_message;          8   largest message the sender accepts, header included
 *     unsigned max_outstanding;     12   calls the sender serves concurrently per connection
 *     unsigned max_streams;         16   streams the sender accepts concurrently per connection
 *     unsigned initial_window;      20   initial per-stream window the sender grants, in bytes
 * };                                24
 * </pre>
 */
public final class Extension {
    public static final int PROGRAM = 0x62726964;
    public static final int VERSION = 1;
    public static final int PROC_HELLO = 1;
    public static final int PROC_CREDIT = 2;
    public static final int PROC_DRAIN = 3;
    public static final int PROC_RELEASE = 4;
    public static final int PROC_PING = 5;
    public static final int PROC_PONG = 6;
    public static final int PROC_WINDOW = 7;
    public static final int CREDIT_LENGTH = 8;
    /** PING and PONG payload: one unsigned hyper (the token). */
    public static final int PING_LENGTH = 8;
    /** WINDOW payload: one unsigned int (the new per-stream window). */
    public static final int WINDOW_LENGTH = 4;
    public static final int RELEASE_LENGTH = 4;
    public static final int DRAIN_LENGTH = 4;
    public static final int DRAIN_LAST_SERIAL_OFFSET = 0;
    /**
     * {@code int1} of the remote_error a draining server answers a refused CALL with ("brid"): a braid
     * client turns that answer into a {@link dev.braid.DrainingException} with or without extensions; a
     * libvirt client reads the message. {@code int2} carries the DRAIN's last_serial.
     */
    public static final int DRAIN_REFUSAL_MARKER = PROGRAM;

    /** Feature bit: per-stream byte windows with CREDIT messages. */
    public static final int FEATURE_FLOW_CONTROL = 1;
    /** Feature bit: the server tells the client when a stream's slot is free (RELEASE). */
    public static final int FEATURE_STREAM_RELEASE = 2;
    /** Feature bit: PING/PONG on this program and WINDOW messages (auto-tuned stream windows). */
    public static final int FEATURE_WINDOW_TUNING = 8;

    /**
     * Smallest window cost of a stream data or hole packet: {@code max(frame length, 512)}. Both sides
     * count a packet's cost this way. It is also the smallest initial window a HELLO may advertise: a
     * smaller one could never carry a packet, and every stream would stall.
     */
    public static final int MIN_PACKET_COST = 512;

    /** Feature bit: graceful drain with DRAIN messages both ways. */
    public static final int FEATURE_DRAIN = 4;

    /** Extension protocol version this build speaks. */
    public static final int PROTOCOL_VERSION = 1;
    /** Feature bits this build supports. */
    public static final int SUPPORTED_FEATURES = FEATURE_FLOW_CONTROL | FEATURE_STREAM_RELEASE | FEATURE_DRAIN
            | FEATURE_WINDOW_TUNING;

    public static final int HELLO_LENGTH = 24;
    public static final int HELLO_VERSION_OFFSET = 0;
    public static final int HELLO_FEATURES_OFFSET = 4;
    public static final int HELLO_MAX_MESSAGE_OFFSET = 8;
    public static final int HELLO_MAX_OUTSTANDING_OFFSET = 12;
    public static final int HELLO_MAX_STREAMS_OFFSET = 16;
    public static final int HELLO_INITIAL_WINDOW_OFFSET = 20;

    /** libvirt's keepalive program ("keep"): PING and PONG MESSAGEs with serial 0 and no payload. */
    public static final int KEEPALIVE_PROGRAM = 0x6b656570;
    public static final int KEEPALIVE_VERSION = 1;
    public static final int KEEPALIVE_PING = 1;
    public static final int KEEPALIVE_PONG = 2;

    private Extension() {
    }

    /** A decoded braid_hello. */
    public record Hello(int version, int features, int maxMessage, int maxOutstanding, int maxStreams,
                        int initialWindow) {

        public void encode(final ByteBuffer b) {
            b.putInt(version).putInt(features).putInt(maxMessage).putInt(maxOutstanding).putInt(maxStreams)
                    .putInt(initialWindow);
        }

        /**
         * @throws ProtocolException if {@code b} does not hold exactly a braid_hello with sane values
         */
        public static Hello decode(final ByteBuffer b) {
            if (b.remaining() != HELLO_LENGTH) {
                throw new ProtocolException("malformed HELLO: " + b.remaining() + " bytes, expected " + HELLO_LENGTH);
            }
            final int p = b.position();
            final Hello h = new Hello(b.getInt(p + HELLO_VERSION_OFFSET), b.getInt(p + HELLO_FEATURES_OFFSET),
                    b.getInt(p + HELLO_MAX_MESSAGE_OFFSET), b.getInt(p + HELLO_MAX_OUTSTANDING_OFFSET),
                    b.getInt(p + HELLO_MAX_STREAMS_OFFSET), b.getInt(p + HELLO_INITIAL_WINDOW_OFFSET));
            if (h.version == 0) {
                throw new ProtocolException("malformed HELLO: version 0");
            }
            if (h.maxMessage < FrameHeader.HEADER_LENGTH + 256 || h.maxOutstanding <= 0 || h.maxStreams < 0
                    || h.initialWindow <= 0) {
                throw new ProtocolException("malformed HELLO: out-of-range limits " + h);
            }
            if (h.initialWindow < MIN_PACKET_COST) {
                throw new ProtocolException("HELLO refused: initial stream window of " + h.initialWindow
                        + " bytes is below the minimum of " + MIN_PACKET_COST + " (the smallest packet's window "
                        + "cost); no stream could ever send");
            }
            return h;
        }
    }
}
