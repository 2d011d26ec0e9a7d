package dev.braid;

/**
 * A procedure's address on the wire: (program, version, procedure), as libvirt names RPC procedures.
 * Programs and versions are unsigned 32-bit values on the wire; Java ints carry them bit for bit.
 */
public record Procedure(int program, int version, int procedure) {

    public static Procedure of(final int program, final int version, final int procedure) {
        return new Procedure(program, version, procedure);
    }

    @Override
    public String toString() {
        return "0x" + Integer.toHexString(program) + "/" + Integer.toUnsignedString(version) + "/" + procedure;
    }
}
