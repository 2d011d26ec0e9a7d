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
 *
 *  listing:  u32 kind of the path itself, u32 count, count x entry
 *  entry:    u32 kind (1 file, 2 directory, 3 symbolic link, 4 other), hyper size, hyper mtime (ms since
 *            the epoch), string name (relative to the listed directory, '/'-separated; a file's own name
 *            when a file was listed)
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
