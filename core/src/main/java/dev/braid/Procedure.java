package dev.braid;

/**
 * A procedure's address on the wire: (program, version, procedure), as libvirt names RPC procedures.
 * Programs and versions are unsigned 32-bit values on the wire; Java ints carry them bit for bit.
 *
 * @param program   the RPC program, for example libvirt's {@code 0x20008086}
 * @param version   the program's version
 * @param procedure the procedure number within it
 */
public record Procedure(int program, int version, int procedure) {

    /**
     * The procedure at this address.
     *
     * @param program the RPC program
     * @param version the program's version
     * @param procedure the procedure number
     * @return the procedure
     */
    public static Procedure of(final int program, final int version, final int procedure) {
        return new Procedure(program, version, procedure);
    }

    @Override
    public String toString() {
        return "0x" + Integer.toHexString(program) + "/" + Integer.toUnsignedString(version) + "/" + procedure;
    }
}
