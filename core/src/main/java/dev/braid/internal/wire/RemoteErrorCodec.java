package dev.braid.internal.wire;

import dev.braid.RemoteError;

import dev.braid.xdr.XdrReader;
import dev.braid.xdr.XdrWriter;

import java.nio.ByteBuffer;

/**
 * libvirt's {@code remote_error} in XDR, both ways:
 *
 * <pre>
 * struct remote_error {
 *     int code;
 *     int domain;
 *     remote_string message;     // string*: bool + string
 *     int level;
 *     remote_domain dom;         // remote_nonnull_domain*: bool + {string name; opaque uuid[16]; int id}
 *     remote_string str1;
 *     remote_string str2;
 *     remote_string str3;
 *     int int1;
 *     int int2;
 *     remote_network net;        // remote_nonnull_network*: bool + {string name; opaque uuid[16]}
 * };
 * </pre>
 */
public final class RemoteErrorCodec {
    private static final int UUID_LENGTH = 16;

    private RemoteErrorCodec() {
    }

    public static int encodedSize(final RemoteError e) {
        int n = 4 + 4 + XdrWriter.sizeOfOptionalString(e.message()) + 4;
        n += 4 + (e.dom() == null ? 0 : XdrWriter.sizeOfString(e.dom().name()) + UUID_LENGTH + 4);
        n += XdrWriter.sizeOfOptionalString(e.str1()) + XdrWriter.sizeOfOptionalString(e.str2())
                + XdrWriter.sizeOfOptionalString(e.str3());
        n += 4 + 4;
        n += 4 + (e.net() == null ? 0 : XdrWriter.sizeOfString(e.net().name()) + UUID_LENGTH);
        return n;
    }

    /** Writes {@code e} at {@code b}'s position, advancing it. */
    public static void encode(final RemoteError e, final ByteBuffer b) {
        b.putInt(e.code());
        b.putInt(e.domain());
        XdrWriter.writeOptionalString(b, e.message());
        b.putInt(e.level());
        if (e.dom() == null) {
            b.putInt(0);
        } else {
            b.putInt(1);
            XdrWriter.writeString(b, e.dom().name());
            XdrWriter.writeFixedOpaque(b, e.dom().uuid());
            b.putInt(e.dom().id());
        }
        XdrWriter.writeOptionalString(b, e.str1());
        XdrWriter.writeOptionalString(b, e.str2());
        XdrWriter.writeOptionalString(b, e.str3());
        b.putInt(e.int1());
        b.putInt(e.int2());
        if (e.net() == null) {
            b.putInt(0);
        } else {
            b.putInt(1);
            XdrWriter.writeString(b, e.net().name());
            XdrWriter.writeFixedOpaque(b, e.net().uuid());
        }
    }

    /**
     * Reads a remote_error from {@code b}'s position to its limit.
     *
     * @throws dev.braid.ProtocolException if the bytes are not a well-formed remote_error
     */
    public static RemoteError decode(final ByteBuffer b) {
        final int code = XdrReader.readInt(b, "remote_error.code");
        final int domain = XdrReader.readInt(b, "remote_error.domain");
        final String message = XdrReader.readOptionalString(b, "remote_error.message");
        final int level = XdrReader.readInt(b, "remote_error.level");
        RemoteError.Dom dom = null;
        if (XdrReader.readBool(b, "remote_error.dom presence")) {
            final String name = XdrReader.readString(b, "remote_error.dom.name");
            final byte[] uuid = XdrReader.readFixedOpaque(b, UUID_LENGTH, "remote_error.dom.uuid");
            dom = new RemoteError.Dom(name, uuid, XdrReader.readInt(b, "remote_error.dom.id"));
        }
        final String str1 = XdrReader.readOptionalString(b, "remote_error.str1");
        final String str2 = XdrReader.readOptionalString(b, "remote_error.str2");
        final String str3 = XdrReader.readOptionalString(b, "remote_error.str3");
        final int int1 = XdrReader.readInt(b, "remote_error.int1");
        final int int2 = XdrReader.readInt(b, "remote_error.int2");
        RemoteError.Net net = null;
        if (XdrReader.readBool(b, "remote_error.net presence")) {
            final String name = XdrReader.readString(b, "remote_error.net.name");
            net = new RemoteError.Net(name, XdrReader.readFixedOpaque(b, UUID_LENGTH, "remote_error.net.uuid"));
        }
        return new RemoteError(code, domain, message, level, dom, str1, str2, str3, int1, int2, net);
    }
}
