package dev.braid.xdr;

/**
 * Bounds on what {@link XdrReader} accepts before it allocates: every length read from the wire is checked
 * against the bytes that are really there and against these limits first. Immutable.
 *
 * @param maxString bytes of one {@code string} (libvirt's {@code VIR_NET_MESSAGE_STRING_MAX}: 4,194,304)
 * @param maxOpaque bytes of one variable-length {@code opaque} (default 33,554,432, libvirt's largest message)
 * @param maxArray  elements of one variable-length array (default 1,048,576)
 */
public record XdrLimits(int maxString, int maxOpaque, int maxArray) {
    /** libvirt's longest string ({@code VIR_NET_MESSAGE_STRING_MAX}). */
    public static final int LIBVIRT_MAX_STRING = 4_194_304;

    /** The defaults: libvirt's string limit, opaques up to libvirt's largest message, a million elements. */
    public static final XdrLimits DEFAULT = new XdrLimits(LIBVIRT_MAX_STRING, 33_554_432, 1 << 20);

    /**
     * Checks the limits.
     *
     * @param maxString bytes of one {@code string}, zero or more
     * @param maxOpaque bytes of one variable-length {@code opaque}, zero or more
     * @param maxArray  elements of one variable-length array, zero or more
     * @throws IllegalArgumentException if any limit is negative
     */
    public XdrLimits {
        if (maxString < 0 || maxOpaque < 0 || maxArray < 0) {
            throw new IllegalArgumentException("XDR limits must be >= 0: maxString=" + maxString + ", maxOpaque="
                    + maxOpaque + ", maxArray=" + maxArray);
        }
    }
}
