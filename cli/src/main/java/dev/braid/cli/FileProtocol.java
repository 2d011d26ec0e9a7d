package dev.braid.cli;

import dev.braid.Procedure;
import dev.braid.ProtocolException;
import dev.braid.RemoteError;
import dev.braid.RemoteException;
import dev.braid.xdr.XdrReader;
import dev.braid.xdr.XdrWriter;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * The wire of {@code braid serve}: program {@link #PROGRAM} ("brfs"), version 1, XDR encoding (big-endian,
 * strings as a u32 length, the UTF-8 bytes, zero padding to a multiple of 4). docs/cli.md has the same tables.
 *
 * <pre>
 *  proc  name                 kind                 args                               reply
 *  ----  -------------------  -------------------  ---------------------------------  -----------------------
 *  1     LIST                 call                 string path, u32 flags (1=recurse)  listing (below)
 *  2     DOWNLOAD             stream, server->cl.  string path, u32 flags (1=sparse,   empty, then the bytes;
 *                                                2=resume), [hyper offset: resume]  resume: hyper offset, the
 *                                                                                   bytes from it, and the
 *                                                                                   finish's result: SHA-256
 *                                                                                   of the whole file (32 B)
 *  3     UPLOAD               stream, client->srv  string path, u32 flags, hyper size  empty, then the bytes
 *  4     CONSOLE              stream, both ways    (none)                              empty, then terminal I/O
 *  5     CONSOLE_CLOSE_INPUT  call                 u32 serial of the CONSOLE stream    empty
 *  6     STATS                call                 (none)                              stats (below)
 *
 *  listing:  u32 kind of the path itself, u32 count, count x entry
 *  entry:    u32 kind (1 file, 2 directory, 3 symbolic link, 4 other), hyper size, hyper mtime (ms since
 *            the epoch), string name (relative to the listed directory, '/'-separated; a file's own name
 *            when a file was listed)
 *
 *  stats:      string backend, hyper uptime (ms), u32 connections in all, u32 count, count x connection
 *              (at most {@link #MAX_STATS_CONNECTIONS})
 *  connection: string remote address, u32 n, n x hyper counter (the {@link #CONNECTION_FIELDS}, in that
 *              order: a client reads those it knows), u32 streams in all, u32 count, count x stream (at
 *              most {@link #MAX_STATS_STREAMS})
 *  stream:     u32 prog, u32 vers, u32 proc, u32 serial, u32 n, n x hyper counter (the
 *              {@link #STREAM_FIELDS}, in that order)
 * </pre>
 *
 * DOWNLOAD with flag 2 (resume, issue 14 §2) carries the offset the client already has; the server answers
 * with the offset it starts from (the same; an offset beyond the file's end is refused with code 6), sends
 * the bytes from there, and ends the stream with the SHA-256 of the whole file as its result, so the client
 * can check its partial prefix and what followed. A server that predates the flag ignores the offset (bytes
 * after the last field are ignored), answers with an empty reply and sends the whole file: the client sees
 * the empty reply and starts over from 0.
 *
 * Paths are relative to the served root, '/'-separated; "" and "." name the root. Errors are ERROR replies
 * (or stream aborts) whose remote_error has domain {@link #ERROR_DOMAIN} and one of the {@code ERR_*} codes.
 */
final class FileProtocol {
    static final int PROGRAM = 0x62726673; // "brfs"
    static final int VERSION = 1;
    static final Procedure LIST = Procedure.of(PROGRAM, VERSION, 1);
    static final Procedure DOWNLOAD = Procedure.of(PROGRAM, VERSION, 2);
    static final Procedure UPLOAD = Procedure.of(PROGRAM, VERSION, 3);
    static final Procedure CONSOLE = Procedure.of(PROGRAM, VERSION, 4);
    static final Procedure CONSOLE_CLOSE_INPUT = Procedure.of(PROGRAM, VERSION, 5);
    static final Procedure STATS = Procedure.of(PROGRAM, VERSION, 6);

    static final int FLAG_RECURSIVE = 1;
    static final int FLAG_SPARSE = 1;
    /** DOWNLOAD: resume from the offset that follows the flags; the reply carries the offset, the result a SHA-256. */
    static final int FLAG_RESUME = 2;
    /** Length of the SHA-256 a resumed DOWNLOAD ends with. */
    static final int SHA256_LENGTH = 32;

    static final int KIND_FILE = 1;
    static final int KIND_DIRECTORY = 2;
    static final int KIND_SYMLINK = 3;
    static final int KIND_OTHER = 4;

    /** remote_error domain of this program's errors ("bf"). */
    static final int ERROR_DOMAIN = 0x6266;
    /** The path was refused: absolute, '..', or leads out of the root through a symbolic link. */
    static final int ERR_PATH_REFUSED = 1;
    static final int ERR_NOT_FOUND = 2;
    /** A file was expected and the path is something else (a directory, a device), or the reverse. */
    static final int ERR_WRONG_KIND = 3;
    static final int ERR_IO = 4;
    static final int ERR_CONSOLE_OFF = 5;
    static final int ERR_BAD_REQUEST = 6;
    /**
     * A limit of the server was reached: too many transfers, an upload larger than the size limit or than
     * the free space, a transfer that made no progress for the stall timeout. The message names the limit.
     */
    static final int ERR_LIMIT = 7;
    /** STATS on a server started without {@code --stats}. */
    static final int ERR_STATS_OFF = 8;

    /** A STATS reply lists at most this many connections (and says how many there are). */
    static final int MAX_STATS_CONNECTIONS = 1000;
    /** ... and at most this many streams of each. */
    static final int MAX_STATS_STREAMS = 256;
    /** A connection's counters in a STATS reply, in order (names as in dev.braid.ConnectionStats). */
    static final List<String> CONNECTION_FIELDS = List.of("bytesRead", "bytesWritten", "callsInFlight",
            "callsServed", "streamsOpen", "streamsOpened", "streamsAborted", "streamBytesSent", "streamBytesReceived",
            "outboundQueuedBytes", "streamQueuedBytes", "streamSendQueuedBytes", "readSuspensions",
            "outboundSuspensions", "eventsSent", "eventsReceived", "framesDropped");
    /** A stream's counters in a STATS reply, in order (names as in dev.braid.StreamStats; age in ms). */
    static final List<String> STREAM_FIELDS = List.of("bytesSent", "bytesReceived", "queuedBytes",
            "sendQueuedBytes", "receiveWindow", "sendCredit", "ageMillis");

    /** Longest path, in UTF-8 bytes (Linux's PATH_MAX). */
    static final int MAX_PATH_BYTES = 4096;
    /** Longest segment of a path, in UTF-8 bytes (Linux's NAME_MAX). */
    static final int MAX_NAME_BYTES = 255;
    /** Most segments in a path: an upload creates at most this many directories. */
    static final int MAX_PATH_DEPTH = 64;

    private FileProtocol() {
    }

    static RemoteException error(final int code, final String message) {
        return new RemoteException(new RemoteError(code, ERROR_DOMAIN, message, RemoteError.VIR_ERR_ERROR,
                null, null, null, null, 0, 0, null));
    }

    record Entry(int kind, long size, long mtimeMillis, String name) {
    }

    record Listing(int kind, List<Entry> entries) {
    }

    /** A STATS reply. {@code counters} maps each field name the reader knows to its value. */
    record Stats(String backend, long uptimeMillis, long connectionCount, List<ConnectionView> connections) {
    }

    record ConnectionView(String remote, java.util.Map<String, Long> counters, long streamCount,
                          List<StreamView> streams) {
        long get(final String field) {
            return counters.getOrDefault(field, 0L);
        }
    }

    record StreamView(Procedure procedure, int serial, java.util.Map<String, Long> counters) {
        long get(final String field) {
            return counters.getOrDefault(field, 0L);
        }
    }

    // ------------------------------------------------------------------ encoding (dev.braid.xdr)

    /**
     * Reads the XDR fields of one request or reply, checking that each is there: one that ends early or
     * names an impossible length throws {@link #ERR_BAD_REQUEST} (never a
     * {@link java.nio.BufferUnderflowException}). Bytes after the last field are ignored. One per message;
     * not thread-safe.
     */
    static final class Args {
        private final ByteBuffer b;
        private final String message;

        /** @param message what the fields belong to, for errors (e.g. "UPLOAD arguments") */
        Args(final ByteBuffer b, final String message) {
            this.b = b;
            this.message = message;
        }

        private void need(final long bytes, final String field) {
            if (b.remaining() < bytes) {
                throw error(ERR_BAD_REQUEST, "malformed request: " + message + " end before " + field + " ("
                        + bytes + " bytes needed, " + b.remaining() + " left)");
            }
        }

        int u32(final String field) {
            need(4, field);
            return b.getInt();
        }

        long hyper(final String field) {
            need(8, field);
            return b.getLong();
        }

        /** A string of at most {@link #MAX_PATH_BYTES}; its padding may be missing at the very end. */
        String string(final String field) {
            final int n = u32(field + "'s length");
            if (n < 0 || n > MAX_PATH_BYTES) {
                throw error(ERR_BAD_REQUEST, "malformed request: " + message + ": " + field + " of "
                        + Integer.toUnsignedString(n) + " bytes (at most " + MAX_PATH_BYTES + ")");
            }
            need(n, field);
            final byte[] s = new byte[n];
            b.get(s);
            b.position(Math.min(b.limit(), b.position() + ((4 - (n & 3)) & 3)));
            return new String(s, StandardCharsets.UTF_8);
        }
    }

    static byte[] pathRequest(final String path, final int flags) {
        final ByteBuffer b = ByteBuffer.allocate(XdrWriter.sizeOfString(path) + 4);
        XdrWriter.writeString(b, path);
        XdrWriter.writeInt(b, flags);
        return b.array();
    }

    /** A DOWNLOAD's arguments; with {@link #FLAG_RESUME}, {@code offset} follows the flags. */
    static byte[] downloadRequest(final String path, final int flags, final long offset) {
        final boolean resume = (flags & FLAG_RESUME) != 0;
        final ByteBuffer b = ByteBuffer.allocate(XdrWriter.sizeOfString(path) + 4 + (resume ? 8 : 0));
        XdrWriter.writeString(b, path);
        XdrWriter.writeInt(b, flags);
        if (resume) {
            XdrWriter.writeHyper(b, offset);
        }
        return b.array();
    }

    static byte[] uploadRequest(final String path, final int flags, final long size) {
        final ByteBuffer b = ByteBuffer.allocate(XdrWriter.sizeOfString(path) + 4 + 8);
        XdrWriter.writeString(b, path);
        XdrWriter.writeInt(b, flags);
        XdrWriter.writeHyper(b, size);
        return b.array();
    }

    static byte[] encode(final Listing l) {
        int size = 8;
        for (Entry e : l.entries()) {
            size += 4 + 8 + 8 + XdrWriter.sizeOfString(e.name());
        }
        final ByteBuffer b = ByteBuffer.allocate(size);
        XdrWriter.writeInt(b, l.kind());
        XdrWriter.writeInt(b, l.entries().size());
        for (Entry e : l.entries()) {
            XdrWriter.writeInt(b, e.kind());
            XdrWriter.writeHyper(b, e.size());
            XdrWriter.writeHyper(b, e.mtimeMillis());
            XdrWriter.writeString(b, e.name());
        }
        return b.array();
    }

    /** Encodes a STATS reply from the server's connections (at most the MAX_STATS_* of them). */
    static byte[] encode(final String backend, final long uptimeMillis, final List<dev.braid.Peer> peers) {
        final java.io.ByteArrayOutputStream bytes = new java.io.ByteArrayOutputStream();
        final ByteBuffer head = ByteBuffer.allocate(XdrWriter.sizeOfString(backend) + 16);
        XdrWriter.writeString(head, backend);
        XdrWriter.writeHyper(head, uptimeMillis);
        XdrWriter.writeInt(head, peers.size());
        final int n = Math.min(peers.size(), MAX_STATS_CONNECTIONS);
        XdrWriter.writeInt(head, n);
        bytes.writeBytes(head.array());
        for (int i = 0; i < n; i++) {
            final dev.braid.Peer p = peers.get(i);
            final dev.braid.ConnectionStats cs = p.stats();
            final List<dev.braid.StreamStats> streams = p.streams();
            final String remote = String.valueOf(p.remoteAddress());
            final long[] c = {cs.bytesRead(), cs.bytesWritten(), cs.callsInFlight(), cs.callsServed(),
                    cs.streamsOpen(), cs.streamsOpened(), cs.streamsAborted(), cs.streamBytesSent(),
                    cs.streamBytesReceived(), cs.outboundQueuedBytes(), cs.streamQueuedBytes(),
                    cs.streamSendQueuedBytes(), cs.readSuspensions(), cs.outboundSuspensions(), cs.eventsSent(),
                    cs.eventsReceived(), cs.framesDropped()};
            final int m = Math.min(streams.size(), MAX_STATS_STREAMS);
            final ByteBuffer b = ByteBuffer.allocate(XdrWriter.sizeOfString(remote) + 4 + 8 * c.length + 8
                    + m * (20 + 8 * STREAM_FIELDS.size()));
            XdrWriter.writeString(b, remote);
            XdrWriter.writeInt(b, c.length);
            for (long v : c) {
                XdrWriter.writeHyper(b, v);
            }
            XdrWriter.writeInt(b, streams.size());
            XdrWriter.writeInt(b, m);
            for (int j = 0; j < m; j++) {
                final dev.braid.StreamStats st = streams.get(j);
                XdrWriter.writeInt(b, st.procedure().program());
                XdrWriter.writeInt(b, st.procedure().version());
                XdrWriter.writeInt(b, st.procedure().procedure());
                XdrWriter.writeInt(b, st.serial());
                XdrWriter.writeInt(b, STREAM_FIELDS.size());
                XdrWriter.writeHyper(b, st.bytesSent());
                XdrWriter.writeHyper(b, st.bytesReceived());
                XdrWriter.writeHyper(b, st.queuedBytes());
                XdrWriter.writeHyper(b, st.sendQueuedBytes());
                XdrWriter.writeHyper(b, st.receiveWindow());
                XdrWriter.writeHyper(b, st.sendCredit());
                XdrWriter.writeHyper(b, st.age().toMillis());
            }
            bytes.write(b.array(), 0, b.position());
        }
        return bytes.toByteArray();
    }

    /** Decodes a STATS reply; a truncated or malformed one throws a {@link RemoteException} (code 6). */
    static Stats decodeStats(final byte[] payload) {
        final Args a = new Args(ByteBuffer.wrap(payload), "STATS reply");
        final String backend = a.string("backend");
        final long uptime = a.hyper("uptime");
        final long total = Integer.toUnsignedLong(a.u32("connections in all"));
        final long n = Integer.toUnsignedLong(a.u32("connection count"));
        final List<ConnectionView> connections = new ArrayList<>((int) Math.min(n, MAX_STATS_CONNECTIONS));
        for (long i = 0; i < n; i++) {
            final String remote = a.string("remote address");
            final java.util.Map<String, Long> counters = counters(a, CONNECTION_FIELDS, "connection counter");
            final long streamTotal = Integer.toUnsignedLong(a.u32("streams in all"));
            final long m = Integer.toUnsignedLong(a.u32("stream count"));
            final List<StreamView> streams = new ArrayList<>((int) Math.min(m, MAX_STATS_STREAMS));
            for (long j = 0; j < m; j++) {
                final Procedure p = Procedure.of(a.u32("stream prog"), a.u32("stream vers"), a.u32("stream proc"));
                final int serial = a.u32("stream serial");
                streams.add(new StreamView(p, serial, counters(a, STREAM_FIELDS, "stream counter")));
            }
            connections.add(new ConnectionView(remote, counters, streamTotal, streams));
        }
        return new Stats(backend, uptime, total, connections);
    }

    /** {@code u32 n, n x hyper}: the first values named by {@code names}; values past them are skipped. */
    private static java.util.Map<String, Long> counters(final Args a, final List<String> names, final String what) {
        final long n = Integer.toUnsignedLong(a.u32(what + " count"));
        final java.util.Map<String, Long> m = new java.util.HashMap<>();
        for (long i = 0; i < n; i++) {
            final long v = a.hyper(what);
            if (i < names.size()) {
                m.put(names.get((int) i), v);
            }
        }
        return m;
    }

    /** Decodes a LIST reply; a truncated or malformed one throws a {@link RemoteException} (code 6). */
    static Listing decodeListing(final byte[] payload) {
        final Args a = new Args(ByteBuffer.wrap(payload), "LIST reply");
        final int kind = a.u32("kind");
        final long n = Integer.toUnsignedLong(a.u32("count"));
        final List<Entry> entries = new ArrayList<>((int) Math.min(n, 1 << 16));
        for (long i = 0; i < n; i++) {
            entries.add(new Entry(a.u32("entry kind"), a.hyper("entry size"), a.hyper("entry mtime"),
                    a.string("entry name")));
        }
        return new Listing(kind, entries);
    }
}
