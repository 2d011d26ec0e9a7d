package dev.braid.cli;

import dev.braid.RemoteException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** Path confinement, in process: what is allowed inside the root and every way out that is refused. */
class RootedPathsTest {
    @TempDir
    Path base;

    private RootedPaths paths() throws Exception {
        final Path root = Files.createDirectories(base.resolve("root"));
        Files.createDirectories(root.resolve("a/b"));
        Files.writeString(root.resolve("a/b/f"), "x");
        Files.createDirectories(base.resolve("outside"));
        Files.writeString(base.resolve("outside/secret"), "s");
        Files.createSymbolicLink(root.resolve("in-link"), root.resolve("a"));
        Files.createSymbolicLink(root.resolve("out-link"), base.resolve("outside"));
        Files.createSymbolicLink(root.resolve("out-file"), base.resolve("outside/secret"));
        Files.createSymbolicLink(root.resolve("dangling"), base.resolve("outside/none"));
        return new RootedPaths(root);
    }

    private static void refused(final Runnable r, final String text) {
        assertThatThrownBy(r::run).isInstanceOfSatisfying(RemoteException.class, e -> {
            assertThat(e.domain()).isEqualTo(FileProtocol.ERROR_DOMAIN);
            assertThat(e.remoteMessage()).contains(text);
        });
    }

    @Test
    void insideTheRootIsAllowedSymbolicLinksIncluded() throws Exception {
        final RootedPaths p = paths();
        assertThat(p.existing("a/b/f")).isEqualTo(p.root().resolve("a/b/f"));
        assertThat(p.existing("in-link/b/f")).isEqualTo(p.root().resolve("a/b/f"));
        assertThat(p.existing("./a//b/./f")).isEqualTo(p.root().resolve("a/b/f"));
        assertThat(p.existing("")).isEqualTo(p.root());
        assertThat(p.forCreate("new/dir/file").target).isEqualTo(p.root().resolve("new/dir/file"));
        assertThat(p.forCreate("new/dir/file").existingDir).isEqualTo(p.root());
        assertThat(p.root().resolve("new")).as("nothing is created before an upload commits").doesNotExist();
        assertThat(p.forCreate("in-link/b/g").target).isEqualTo(p.root().resolve("a/b/g"));
    }

    @Test
    void everyWayOutIsRefused() throws Exception {
        final RootedPaths p = paths();
        refused(() -> p.existing("../outside/secret"), "'..' is not allowed");
        refused(() -> p.existing("a/../../outside/secret"), "'..' is not allowed");
        refused(() -> p.existing("a/.."), "'..' is not allowed");
        refused(() -> p.existing("/etc/passwd"), "absolute paths are not allowed");
        refused(() -> p.existing("out-link/secret"), "leads outside the served root through a symbolic link");
        refused(() -> p.existing("out-file"), "leads outside the served root through a symbolic link");
        refused(() -> p.existing("nul\0byte"), "NUL");
        refused(() -> p.forCreate("out-link/planted"), "leads outside the served root");
        refused(() -> p.forCreate("out-link/deeper/planted"), "leads outside the served root");
        refused(() -> p.forCreate("out-file"), "symbolic link leading outside the served root");
        refused(() -> p.forCreate("dangling"), "dangling symbolic link");
        refused(() -> p.forCreate("../planted"), "'..' is not allowed");
        refused(() -> p.forCreate("."), "names the served root");
        refused(() -> p.forCreate("a/b"), "is a directory");
        refused(() -> p.existing("missing"), "no such file or directory");
        assertThat(base.resolve("outside/deeper")).doesNotExist();
        assertThat(base.resolve("outside/planted")).doesNotExist();
    }
}
