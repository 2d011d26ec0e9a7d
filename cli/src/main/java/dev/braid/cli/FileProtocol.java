package dev.braid.cli;

import dev.braid.Procedure;
import dev.braid.ProtocolException;
import dev.braid.RemoteError;
import dev.braid.RemoteException;
import dev.braid.xdr.XdrReader;
import dev.braid.xdr.XdrWriter;

import java.nio.ByteBuffer;
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
 *  2     DOWNLOAD             stream, server->cl.  string path, u32 flags (1=sparse)   empty, then the bytes
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

    static final int MAX_PATH_BYTES = 4096;

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

    /** A request string, at most {@link #MAX_PATH_BYTES}; malformed input is the client's error, not the server's. */
    static String readString(final ByteBuffer b) {
        try {
            return XdrReader.readString(b, MAX_PATH_BYTES, "string");
        } catch (ProtocolException e) {
            throw error(ERR_BAD_REQUEST, "malformed request: " + e.getMessage());
        }
    }

    static byte[] pathRequest(final String path, final int flags) {
        final ByteBuffer b = ByteBuffer.allocate(XdrWriter.sizeOfString(path) + 4);
        XdrWriter.writeString(b, path);
        XdrWriter.writeInt(b, flags);
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

    static Listing decodeListing(final byte[] payload) {
        final ByteBuffer b = ByteBuffer.wrap(payload);
        final int kind = XdrReader.readInt(b, "listing kind");
        final int n = XdrReader.readArrayLength(b, Integer.MAX_VALUE, "listing entries");
        final List<Entry> entries = new ArrayList<>(n);
        for (int i = 0; i < n; i++) {
            entries.add(new Entry(XdrReader.readInt(b, "entry kind"), XdrReader.readHyper(b, "entry size"),
                    XdrReader.readHyper(b, "entry mtime"), XdrReader.readString(b, "entry name")));
        }
        return new Listing(kind, entries);
    }
}
