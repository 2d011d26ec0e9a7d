package dev.braid;

import java.util.Arrays;
import java.util.Objects;

/**
 * libvirt's {@code remote_error}, the payload of an ERROR reply (and of a server's stream abort).
 * Optional strings are {@code null} when absent. {@code dom} and {@code net} are rarely sent; they are kept
 * so that an error from a libvirt daemon survives a round trip.
 *
 * @param code    libvirt's error code ({@code VIR_ERR_*})
 * @param domain  where the error comes from ({@code VIR_FROM_*})
 * @param message the text, or null
 * @param level   {@code VIR_ERR_WARNING} (1) or {@code VIR_ERR_ERROR} (2)
 * @param dom     the domain (virtual machine) it concerns, or null
 * @param str1    extra text, or null
 * @param str2    extra text, or null
 * @param str3    extra text, or null
 * @param int1    extra number
 * @param int2    extra number
 * @param net     the network it concerns, or null
 */
public record RemoteError(int code, int domain, String message, int level, Dom dom, String str1, String str2,
                          String str3, int int1, int int2, Net net) {

    /** libvirt's {@code VIR_ERR_INTERNAL_ERROR}: a handler failed. */
    public static final int VIR_ERR_INTERNAL_ERROR = 1;
    /** libvirt's {@code VIR_ERR_NO_SUPPORT}: unknown procedure. */
    public static final int VIR_ERR_NO_SUPPORT = 3;
    /** libvirt's {@code VIR_ERR_RPC}: protocol-level failure, unknown program or version. */
    public static final int VIR_ERR_RPC = 39;
    /** libvirt's {@code VIR_FROM_RPC} error domain. */
    public static final int VIR_FROM_RPC = 7;
    /** libvirt's {@code VIR_ERR_ERROR} level. */
    public static final int VIR_ERR_ERROR = 2;

    /**
     * {@code remote_nonnull_domain}.
     *
     * @param name the domain's name
     * @param uuid its UUID, 16 bytes
     * @param id   its id
     */
    public record Dom(String name, byte[] uuid, int id) {
        /**
         * Checks the name and the UUID's length.
         *
         * @param name the domain's name
         * @param uuid its UUID, 16 bytes
         * @param id its id
         */
        public Dom {
            Objects.requireNonNull(name, "name");
            if (uuid.length != 16) {
                throw new IllegalArgumentException("uuid must be 16 bytes, got " + uuid.length);
            }
        }

        @Override
        public boolean equals(final Object o) {
            return o instanceof Dom d && name.equals(d.name) && Arrays.equals(uuid, d.uuid) && id == d.id;
        }

        @Override
        public int hashCode() {
            return Objects.hash(name, Arrays.hashCode(uuid), id);
        }

        @Override
        public String toString() {
            return "Dom[name=" + name + ", id=" + id + "]";
        }
    }

    /**
     * {@code remote_nonnull_network}.
     *
     * @param name the network's name
     * @param uuid its UUID, 16 bytes
     */
    public record Net(String name, byte[] uuid) {
        /**
         * Checks the name and the UUID's length.
         *
         * @param name the network's name
         * @param uuid its UUID, 16 bytes
         */
        public Net {
            Objects.requireNonNull(name, "name");
            if (uuid.length != 16) {
                throw new IllegalArgumentException("uuid must be 16 bytes, got " + uuid.length);
            }
        }

        @Override
        public boolean equals(final Object o) {
            return o instanceof Net n && name.equals(n.name) && Arrays.equals(uuid, n.uuid);
        }

        @Override
        public int hashCode() {
            return Objects.hash(name, Arrays.hashCode(uuid));
        }

        @Override
        public String toString() {
            return "Net[name=" + name + "]";
        }
    }

    /**
     * An error with a code, domain and message, level ERROR, nothing else.
     *
     * @param code libvirt's error code
     * @param domain where it comes from
     * @param message the text
     * @return the error
     */
    public static RemoteError of(final int code, final int domain, final String message) {
        return new RemoteError(code, domain, message, VIR_ERR_ERROR, null, null, null, null, 0, 0, null);
    }
}
