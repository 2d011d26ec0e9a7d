/**
 * braid's java.nio backend ({@code braid.backend=nio}): selector event loops over non-blocking socket channels.
 * Needs the JDK only. Exports nothing: braid finds it through {@link dev.braid.spi.Backend}.
 */
module dev.braid.nio {
    requires dev.braid;

    provides dev.braid.spi.Backend with dev.braid.nio.NioBackend;
}
