using System.Collections.Concurrent;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using RegPS.Engine.Templates;

namespace RegPS.Engine.Tests.Templates;

/// <summary>
/// Every test runs against its own loopback server and its own temporary TemplateFlow home; nothing reaches the
/// internet. Every wait has a time limit, so a bug hangs nothing.
/// </summary>
public class TemplateFlowClientTests
{
    // The hidden checksum and lock files beside a cached file, as relative or full paths.
    private static string Lock(string file) => TemplateFlowClient.LockPath(file).Replace('\\', '/');
    private static string Sum(string file) => TemplateFlowClient.ChecksumPath(file).Replace('\\', '/');
    private static string[] Sorted(params string[] files) => files.Order(StringComparer.Ordinal).ToArray();

    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(10);

    private static readonly TemplateQuery T1w = new("MNI152NLin2009cAsym") { Resolution = 1 };
    private const string T1wPath = "tpl-MNI152NLin2009cAsym/tpl-MNI152NLin2009cAsym_res-01_T1w.nii.gz";

    private static TemplateFlowClient Client(TempHome home, LoopbackServer server, bool offline = false, HttpMessageHandler? handler = null) =>
        new(new TemplateFlowOptions
        {
            Home = home.Path,
            BaseAddress = server.BaseAddress,
            Offline = offline,
            Timeout = TimeSpan.FromSeconds(5),
            Handler = handler,
        });

    private static string Sha(byte[] data) => Convert.ToHexStringLower(SHA256.HashData(data));

    /// <summary>Collects reports synchronously on the reporting thread (Progress&lt;T&gt; would post them later).</summary>
    private sealed class Recorder : IProgress<DownloadProgress>
    {
        public ConcurrentQueue<DownloadProgress> Reports { get; } = new();
        public void Report(DownloadProgress value) => Reports.Enqueue(value);
    }

    [Fact]
    public async Task DownloadsVerifiesAndCachesTheFile()
    {
        // ~2 MB in 64 KiB chunks 10 ms apart: about 32 reads over ~0.3 s, so the progress rate limit shows.
        byte[] body = TestNifti.Gz(n: 128);
        await using var server = new LoopbackServer(ServerResponse.File(body) with { ChunkDelay = TimeSpan.FromMilliseconds(10) });
        using var home = new TempHome();
        using var client = Client(home, server);
        var progress = new Recorder();

        var watch = System.Diagnostics.Stopwatch.StartNew();
        TemplateFile got = await client.GetAsync(T1w, progress).WaitAsync(Limit);
        watch.Stop();

        Assert.Equal(new[] { "/" + T1wPath }, server.Paths);
        Assert.True(got.Downloaded);
        Assert.Equal(Path.Combine(home.Path, "tpl-MNI152NLin2009cAsym", "tpl-MNI152NLin2009cAsym_res-01_T1w.nii.gz"), got.Path);
        Assert.Equal(new Uri(server.BaseAddress, T1wPath), got.Source);
        Assert.Equal(body, File.ReadAllBytes(got.Path));
        Assert.Equal(body.Length, got.Length);
        Assert.Equal(Sha(body), got.Sha256);
        Assert.Equal($"{Sha(body)}  tpl-MNI152NLin2009cAsym_res-01_T1w.nii.gz\n", File.ReadAllText(Sum(got.Path)));
        // only the file, its checksum and the lock marker: no temporary file left
        Assert.Equal(Sorted(T1wPath, Lock(T1wPath), Sum(T1wPath)), home.Files());

        var reports = progress.Reports.ToArray();
        Assert.NotEmpty(reports);
        Assert.Equal(body.Length, reports[^1].BytesReceived);
        Assert.All(reports, r => Assert.Equal(body.Length, r.TotalBytes));
        Assert.Equal(100.0, reports[^1].Percent);
        Assert.True(reports[^1].BytesPerSecond > 0);
        for (int i = 1; i < reports.Length; i++) Assert.True(reports[i].BytesReceived >= reports[i - 1].BytesReceived);
        // at most one report per 100 ms plus the final one, although there were ~32 reads
        Assert.InRange(reports.Length, 1, (int)(watch.ElapsedMilliseconds / 100) + 2);

        // Second call: served from the cache, the server sees nothing.
        TemplateFile again = await client.GetAsync(T1w).WaitAsync(Limit);
        Assert.True(got.ChecksumVerified);
        Assert.True(again.ChecksumVerified); // matched the .sha256
        Assert.False(again.Downloaded);
        Assert.Null(again.Source);
        Assert.Equal(got.Path, again.Path);
        Assert.Equal(got.Sha256, again.Sha256);
        Assert.Equal(1, server.RequestCount);
    }

    [Fact]
    public async Task InterruptedTransferLeavesNothingBehind()
    {
        byte[] body = TestNifti.Gz(n: 40); // ~64 KB
        int half = body.Length / 2;
        await using var server = new LoopbackServer(ServerResponse.File(body) with { CutAfter = half });
        using var home = new TempHome();
        using var client = Client(home, server);

        var e = await Assert.ThrowsAsync<TemplateDownloadException>(() => client.GetAsync(T1w).WaitAsync(Limit));

        Assert.Contains("interrupted", e.Message);
        Assert.Contains($"after {half} of {body.Length} bytes", e.Message);
        Assert.Contains(new Uri(server.BaseAddress, T1wPath).ToString(), e.Message);
        Assert.Contains(client.LocalPath(T1w), e.Message);
        Assert.Equal(Sorted(Lock(T1wPath)), home.Files()); // no file, no checksum, no .part
    }

    [Fact]
    public async Task StalledTransferTimesOut()
    {
        // The server sends the headers and 1000 bytes of the body, then nothing. The client must give up after its
        // inactivity limit, say how far it got, and leave nothing but its lock file. On a loaded machine the headers
        // themselves can take longer than a short limit; that is the other (correct) timeout, "no answer from the
        // server", and it is not what this test is about, so the limit is raised and the download tried again until
        // the body has started to arrive (which the progress reports show). Then the stall must be what is reported.
        byte[] body = TestNifti.Gz(n: 40);
        await using var server = new LoopbackServer(ServerResponse.File(body) with { CutAfter = 1000, StallAfterBody = true });
        using var home = new TempHome();
        foreach (double seconds in new[] { 1.5, 4, 10 })
        {
            var limit = TimeSpan.FromSeconds(seconds);
            using var client = new TemplateFlowClient(new TemplateFlowOptions
            {
                Home = home.Path, BaseAddress = server.BaseAddress, Timeout = limit,
            });
            var recorder = new Recorder();
            var e = await Assert.ThrowsAsync<TemplateDownloadException>(() => client.GetAsync(T1w, recorder).WaitAsync(limit + Limit));
            Assert.Equal(Sorted(Lock(T1wPath)), home.Files()); // no partial file, whichever timeout fired
            string s = seconds.ToString("0.#", System.Globalization.CultureInfo.InvariantCulture);
            if (recorder.Reports.IsEmpty)
            {
                Assert.True(e.Message.Contains($"no answer from the server within {s} s"), e.Message);
                continue;
            }
            Assert.True(e.Message.Contains($"stalled: no data for {s} s after 1000 of {body.Length} bytes"), e.Message);
            return;
        }
        Assert.Fail("the server's headers never arrived within 10 s, so the stall in the body was never reached");
    }

    /// <summary>
    /// On the wire, HttpClient itself stops at Content-Length and fails on a short body, so a body that ends cleanly
    /// but disagrees with the announced length can only come from a layer in between; a handler that rewrites the
    /// header plays that layer, in both directions, while the bytes still come from the loopback server.
    /// </summary>
    [Theory]
    [InlineData(+100, "transfer interrupted after {0} of {1} bytes")]
    [InlineData(-100, "wrong length: received {0} bytes but the server announced {1}")]
    public async Task LengthDifferentFromContentLengthIsRejected(int delta, string expected)
    {
        byte[] body = TestNifti.Gz(n: 8);
        await using var server = new LoopbackServer(ServerResponse.File(body));
        using var home = new TempHome();
        using var handler = new ContentLengthRewriter(delta);
        using var client = Client(home, server, handler: handler);

        var e = await Assert.ThrowsAsync<TemplateDownloadException>(() => client.GetAsync(T1w).WaitAsync(Limit));
        Assert.Contains(string.Format(expected, body.Length, body.Length + delta), e.Message);
        Assert.Equal(Sorted(Lock(T1wPath)), home.Files());
    }

    private sealed class ContentLengthRewriter(int delta) : DelegatingHandler(new SocketsHttpHandler())
    {
        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken ct)
        {
            var response = await base.SendAsync(request, ct);
            response.Content.Headers.ContentLength = response.Content.Headers.ContentLength + delta;
            return response;
        }
    }

    [Fact]
    public async Task HtmlErrorPageWithStatus200IsRejected()
    {
        byte[] page = Encoding.UTF8.GetBytes("<!DOCTYPE html><html><body>Please log in to the hotel wifi</body></html>");
        await using var server = new LoopbackServer(new ServerResponse(200, "OK", "text/html", page));
        using var home = new TempHome();
        using var client = Client(home, server);

        var e = await Assert.ThrowsAsync<TemplateDownloadException>(() => client.GetAsync(T1w).WaitAsync(Limit));
        Assert.Contains("server sent an HTML page instead of a NIfTI file (HTTP 200, text/html)", e.Message);
        Assert.Equal(200, e.StatusCode);
        Assert.Equal(Sorted(Lock(T1wPath)), home.Files());
    }

    [Fact]
    public async Task MarkupBodyUnderABinaryContentTypeIsRejected()
    {
        byte[] page = Encoding.UTF8.GetBytes("\n  <?xml version=\"1.0\"?><Error><Code>AccessDenied</Code></Error>");
        await using var server = new LoopbackServer(new ServerResponse(200, "OK", "binary/octet-stream", page));
        using var home = new TempHome();
        using var client = Client(home, server);

        var e = await Assert.ThrowsAsync<TemplateDownloadException>(() => client.GetAsync(T1w).WaitAsync(Limit));
        Assert.Contains("HTML/XML page instead of a NIfTI file (HTTP 200, binary/octet-stream)", e.Message);
        Assert.Contains("<?xml", e.Message);
        Assert.Equal(Sorted(Lock(T1wPath)), home.Files());
    }

    [Fact]
    public async Task ContentThatIsNotAGzippedNiftiIsRejected()
    {
        byte[] notGzip = new byte[1000];
        new Random(5).NextBytes(notGzip);
        notGzip[0] = 0x42;
        byte[] gzipNotNifti = TestNifti.Gzip(Encoding.ASCII.GetBytes(new string('x', 2000)));
        var bodies = new Queue<byte[]>(new[] { notGzip, gzipNotNifti });
        await using var server = new LoopbackServer(_ => ServerResponse.File(bodies.Dequeue()));
        using var home = new TempHome();
        using var client = Client(home, server);

        var e1 = await Assert.ThrowsAsync<TemplateDownloadException>(() => client.GetAsync(T1w).WaitAsync(Limit));
        Assert.Contains("not a gzip file", e1.Message);
        var e2 = await Assert.ThrowsAsync<TemplateDownloadException>(() => client.GetAsync(T1w).WaitAsync(Limit));
        Assert.Contains("not a NIfTI image (sizeof_hdr is 2021161080, expected 348 or 540)", e2.Message); // "xxxx"
        Assert.Equal(Sorted(Lock(T1wPath)), home.Files());
    }

    [Fact]
    public async Task NonNiftiFilesAreNotCheckedAsNifti()
    {
        byte[] json = Encoding.UTF8.GetBytes("{\"Name\": \"test\"}");
        await using var server = new LoopbackServer(new ServerResponse(200, "OK", "application/json", json));
        using var home = new TempHome();
        using var client = Client(home, server);

        var got = await client.GetAsync(T1w with { Extension = ".json" }).WaitAsync(Limit);
        Assert.Equal(json, File.ReadAllBytes(got.Path));
    }

    [Fact]
    public async Task Http404NamesTheStatusAfterTryingBothSpellings()
    {
        await using var server = new LoopbackServer(ServerResponse.NotFound());
        using var home = new TempHome();
        using var client = Client(home, server);

        var e = await Assert.ThrowsAsync<TemplateDownloadException>(() => client.GetAsync(T1w).WaitAsync(Limit));
        Assert.Contains("HTTP 404 Not Found", e.Message);
        Assert.Equal(404, e.StatusCode);
        Assert.Equal(new Uri(server.BaseAddress, T1wPath), e.Url); // the primary name is reported
        Assert.Equal(new[] { "/" + T1wPath, "/tpl-MNI152NLin2009cAsym/tpl-MNI152NLin2009cAsym_res-1_T1w.nii.gz" }, server.Paths);
        Assert.Equal(Sorted(Lock(T1wPath)), home.Files());
    }

    [Fact]
    public async Task OtherSpellingOfTheResolutionIsDownloadedWhenThePrimaryIs404()
    {
        byte[] body = TestNifti.Gz();
        const string unpadded = "tpl-MNI152NLin2009cAsym/tpl-MNI152NLin2009cAsym_res-1_T1w.nii.gz";
        await using var server = new LoopbackServer(p => p == "/" + unpadded ? ServerResponse.File(body) : ServerResponse.NotFound());
        using var home = new TempHome();
        using var client = Client(home, server);

        var got = await client.GetAsync(T1w).WaitAsync(Limit);
        Assert.True(got.Downloaded);
        Assert.EndsWith("_res-1_T1w.nii.gz", got.Path);
        Assert.Equal(body, File.ReadAllBytes(got.Path));
        Assert.Equal(got.Path, client.LocalPath(T1w)); // found under that name from now on
        Assert.False((await client.GetAsync(T1w).WaitAsync(Limit)).Downloaded);
        Assert.Equal(2, server.RequestCount);
    }

    [Fact]
    public async Task ConcurrentCallersShareOneDownload()
    {
        byte[] body = TestNifti.Gz(n: 32);
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var server = new LoopbackServer(ServerResponse.File(body) with { Gate = release.Task });
        using var home = new TempHome();
        // separate clients (as separate runspaces or processes would have) over the same cache
        using var c1 = Client(home, server);
        using var c2 = Client(home, server);
        using var c3 = Client(home, server);

        Task<TemplateFile> first = Task.Run(() => c1.GetAsync(T1w));
        await server.FirstRequest.WaitAsync(Limit);
        // The first download is now held open by the server, so the file does not exist yet: these two pass the
        // cache check (it runs before GetAsync's first await) and must wait for the lock.
        Assert.False(File.Exists(c2.LocalPath(T1w)));
        Task<TemplateFile> second = c2.GetAsync(T1w);
        Task<TemplateFile> third = c3.GetAsync(T1w);
        await Task.Delay(150);
        Assert.False(second.IsCompleted);
        Assert.False(third.IsCompleted);
        release.SetResult();

        TemplateFile[] all = await Task.WhenAll(first, second, third).WaitAsync(Limit);
        Assert.Equal(1, server.RequestCount);
        Assert.Equal(1, all.Count(f => f.Downloaded));
        Assert.All(all, f => Assert.Equal(Sha(body), f.Sha256));
        Assert.All(all, f => Assert.Equal(body, File.ReadAllBytes(f.Path)));
        Assert.Equal(Sorted(T1wPath, Lock(T1wPath), Sum(T1wPath)), home.Files());
    }

    [Fact]
    public async Task ManyParallelCallersOnThreads()
    {
        byte[] body = TestNifti.Gz(n: 24);
        await using var server = new LoopbackServer(ServerResponse.File(body) with { ChunkSize = 1024, ChunkDelay = TimeSpan.FromMilliseconds(2) });
        using var home = new TempHome();

        var results = await Task.WhenAll(Enumerable.Range(0, 6).Select(_ => Task.Run(async () =>
        {
            using var c = Client(home, server);
            return await c.GetAsync(T1w);
        }))).WaitAsync(Limit);

        Assert.Equal(1, server.RequestCount);
        Assert.All(results, f => Assert.Equal(Sha(body), f.Sha256));
        Assert.Equal(body, File.ReadAllBytes(results[0].Path));
    }

    [Fact]
    public async Task LockFileExcludesASecondHolderUntilReleased()
    {
        using var home = new TempHome();
        string lockPath = Path.Combine(home.Path, "x.lock");
        var held = await TemplateFlowClient.AcquireLockAsync(lockPath, CancellationToken.None).WaitAsync(Limit);

        Task<FileStream> waiting = TemplateFlowClient.AcquireLockAsync(lockPath, CancellationToken.None);
        await Task.Delay(100);
        Assert.False(waiting.IsCompleted);
        held.Dispose();
        (await waiting.WaitAsync(Limit)).Dispose();

        using var again = await TemplateFlowClient.AcquireLockAsync(lockPath, CancellationToken.None).WaitAsync(Limit);
        using var cts = new CancellationTokenSource(TimeSpan.FromMilliseconds(100));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => TemplateFlowClient.AcquireLockAsync(lockPath, cts.Token).WaitAsync(Limit));
    }

    /// <summary>
    /// The lock holds against another process, not just another thread: util-linux flock(1) takes the same kind of
    /// lock (flock(2)) that .NET's FileShare.None takes on Linux. Runs where /usr/bin/flock exists (Linux, and CI).
    /// </summary>
    [Fact]
    public async Task LockFileExcludesAnotherProcess()
    {
        if (!OperatingSystem.IsLinux() || !File.Exists("/usr/bin/flock"))
            return; // nothing to start the other process with; the thread-level test above still runs
        using var home = new TempHome();
        string lockPath = Path.Combine(home.Path, "x.lock");
        string ready = Path.Combine(home.Path, "ready");
        string release = Path.Combine(home.Path, "release");

        var psi = new System.Diagnostics.ProcessStartInfo("/usr/bin/flock")
        {
            ArgumentList = { lockPath, "/bin/sh", "-c", $"touch '{ready}'; while [ ! -e '{release}' ]; do sleep 0.02; done" },
        };
        using var other = System.Diagnostics.Process.Start(psi)!;
        try
        {
            var deadline = DateTime.UtcNow + Limit;
            while (!File.Exists(ready) && DateTime.UtcNow < deadline) await Task.Delay(10);
            Assert.True(File.Exists(ready), "the other process did not take the lock");

            Task<FileStream> waiting = TemplateFlowClient.AcquireLockAsync(lockPath, CancellationToken.None);
            await Task.Delay(200);
            Assert.False(waiting.IsCompleted); // the other process holds it

            File.WriteAllText(release, "");
            (await waiting.WaitAsync(Limit)).Dispose();
            Assert.True(other.WaitForExit(10_000));
        }
        finally
        {
            if (!other.HasExited) other.Kill(entireProcessTree: true);
        }
    }

    [Fact]
    public async Task OfflineMissingFileSaysWhereAndHowToFetchIt()
    {
        await using var server = new LoopbackServer(ServerResponse.File(TestNifti.Gz()));
        using var home = new TempHome();
        using var client = Client(home, server, offline: true);

        var e = await Assert.ThrowsAsync<TemplateNotFoundOfflineException>(() => client.GetAsync(T1w).WaitAsync(Limit));
        string expectedPath = Path.Combine(home.Path, "tpl-MNI152NLin2009cAsym", "tpl-MNI152NLin2009cAsym_res-01_T1w.nii.gz");
        Assert.Equal(expectedPath, e.FileName);
        Assert.Contains(expectedPath, e.Message);
        Assert.Contains("without -Offline", e.Message);
        Assert.Contains("python -c \"from templateflow import api; api.get('MNI152NLin2009cAsym', resolution=1, desc=None, suffix='T1w', extension='.nii.gz')\"", e.Message);
        Assert.Contains($"TEMPLATEFLOW_HOME={home.Path}", e.Message);
        Assert.Contains("copy the file", e.Message);
        Assert.Equal(0, server.RequestCount);
        Assert.Empty(Directory.EnumerateFileSystemEntries(home.Path)); // offline writes nothing
    }

    [Fact]
    public async Task OfflinePresentFileIsReturnedWithoutNetwork()
    {
        byte[] body = TestNifti.Gz(seed: 9);
        await using var server = new LoopbackServer(ServerResponse.File(TestNifti.Gz()));
        using var home = new TempHome();
        string placed = home.Place(T1wPath, body);
        using var client = Client(home, server, offline: true);

        var got = await client.GetAsync(T1w).WaitAsync(Limit);
        Assert.Equal(placed, got.Path);
        Assert.False(got.Downloaded);
        Assert.False(got.ChecksumVerified); // no .sha256 beside it
        Assert.Equal(Sha(body), got.Sha256);
        Assert.Equal(body.Length, got.Length);
        Assert.Equal(0, server.RequestCount);
    }

    [Fact]
    public async Task CacheLaidOutByThePythonClientIsFound()
    {
        // Names and folders as templateflow.api.get leaves them (no .sha256, no .lock).
        var files = new (TemplateQuery Query, string Path)[]
        {
            (new TemplateQuery("MNI152NLin2009cAsym") { Resolution = 1, Desc = "brain", Suffix = "mask" },
                "tpl-MNI152NLin2009cAsym/tpl-MNI152NLin2009cAsym_res-01_desc-brain_mask.nii.gz"),
            (new TemplateQuery("MNIPediatricAsym") { Cohort = "5", Resolution = 1 },
                "tpl-MNIPediatricAsym/cohort-5/tpl-MNIPediatricAsym_cohort-5_res-1_T1w.nii.gz"),
            (new TemplateQuery("MNI152NLin2009cAsym") { Resolution = 2, Atlas = "Schaefer2018", Desc = "100Parcels7Networks", Suffix = "dseg" },
                "tpl-MNI152NLin2009cAsym/tpl-MNI152NLin2009cAsym_res-02_atlas-Schaefer2018_desc-100Parcels7Networks_dseg.nii.gz"),
        };
        await using var server = new LoopbackServer(ServerResponse.NotFound());
        using var home = new TempHome();
        using var client = Client(home, server);

        int seed = 0;
        foreach (var (query, path) in files)
        {
            byte[] body = TestNifti.Gz(seed: ++seed);
            string placed = home.Place(path, body);
            Assert.Equal(placed, client.LocalPath(query));
            var got = await client.GetAsync(query).WaitAsync(Limit);
            Assert.Equal(placed, got.Path);
            Assert.False(got.Downloaded);
            Assert.Equal(Sha(body), got.Sha256);
        }
        Assert.Equal(0, server.RequestCount);
        Assert.Equal(new[] { "MNI152NLin2009cAsym", "MNIPediatricAsym" }, client.CachedTemplates());
    }

    [Fact]
    public async Task EmptyPlaceholderFromThePythonSkeletonIsFetchedAndReplaced()
    {
        byte[] body = TestNifti.Gz();
        await using var server = new LoopbackServer(ServerResponse.File(body));
        using var home = new TempHome();
        string placeholder = home.Place(T1wPath, Array.Empty<byte>());

        using (var offline = Client(home, server, offline: true))
        {
            var e = await Assert.ThrowsAsync<TemplateNotFoundOfflineException>(() => offline.GetAsync(T1w).WaitAsync(Limit));
            Assert.Equal(placeholder, e.FileName);
        }
        using var client = Client(home, server);
        var got = await client.GetAsync(T1w).WaitAsync(Limit);
        Assert.True(got.Downloaded);
        Assert.Equal(placeholder, got.Path);
        Assert.Equal(body, File.ReadAllBytes(placeholder));
        Assert.Equal(1, server.RequestCount);
    }

    [Fact]
    public async Task PlaceholderSpellingIsTheOneDownloaded()
    {
        // The skeleton names the file res-1: that URL is asked for first, no 404 round trip for res-01.
        const string unpadded = "tpl-MNI152NLin2009cAsym/tpl-MNI152NLin2009cAsym_res-1_T1w.nii.gz";
        byte[] body = TestNifti.Gz();
        await using var server = new LoopbackServer(p => p == "/" + unpadded ? ServerResponse.File(body) : ServerResponse.NotFound());
        using var home = new TempHome();
        string placeholder = home.Place(unpadded, Array.Empty<byte>());
        using var client = Client(home, server);

        Assert.Equal(placeholder, client.LocalPath(T1w));
        var got = await client.GetAsync(T1w).WaitAsync(Limit);
        Assert.Equal(placeholder, got.Path);
        Assert.Equal(new[] { "/" + unpadded }, server.Paths);
    }

    [Fact]
    public async Task SavedS3ErrorBodyCountsAsMissing()
    {
        byte[] body = TestNifti.Gz();
        await using var server = new LoopbackServer(ServerResponse.File(body));
        using var home = new TempHome();
        home.Place(T1wPath, Encoding.ASCII.GetBytes("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>"));
        using var client = Client(home, server);

        var got = await client.GetAsync(T1w).WaitAsync(Limit);
        Assert.True(got.Downloaded);
        Assert.Equal(body, File.ReadAllBytes(got.Path));
        Assert.True(TemplateFlowClient.IsUsable(got.Path));
    }

    [Fact]
    public async Task DamagedCachedFileFailsItsChecksum()
    {
        byte[] body = TestNifti.Gz();
        await using var server = new LoopbackServer(ServerResponse.File(body));
        using var home = new TempHome();
        using var client = Client(home, server);
        var got = await client.GetAsync(T1w).WaitAsync(Limit);

        byte[] damaged = (byte[])body.Clone();
        damaged[^5] ^= 0xFF;
        File.WriteAllBytes(got.Path, damaged);
        var e = await Assert.ThrowsAsync<TemplateChecksumException>(() => client.GetAsync(T1w).WaitAsync(Limit));
        Assert.Equal(got.Path, e.FilePath);
        Assert.Equal(Sha(body), e.Expected);
        Assert.Equal(Sha(damaged), e.Actual);
        Assert.Contains("delete it", e.Message);
        Assert.Equal(1, server.RequestCount);
    }

    [Fact]
    public void CachedAndKnownTemplates()
    {
        using var home = new TempHome();
        var client = new TemplateFlowClient(new TemplateFlowOptions { Home = home.Path, Offline = true });
        Assert.Empty(client.CachedTemplates());
        Directory.CreateDirectory(Path.Combine(home.Path, "tpl-fsaverage"));
        Directory.CreateDirectory(Path.Combine(home.Path, "tpl-MNI152NLin6Asym"));
        Directory.CreateDirectory(Path.Combine(home.Path, "scripts"));
        File.WriteAllText(Path.Combine(home.Path, "tpl-notafolder"), "");
        Assert.Equal(new[] { "MNI152NLin6Asym", "fsaverage" }, client.CachedTemplates());
        Assert.Empty(new TemplateFlowClient(new TemplateFlowOptions { Home = Path.Combine(home.Path, "missing") }).CachedTemplates());

        Assert.Contains("MNI152NLin2009cAsym", TemplateFlowClient.KnownTemplates);
        Assert.Contains("MNI152NLin6Asym", TemplateFlowClient.KnownTemplates);
        Assert.All(TemplateFlowClient.KnownTemplates, t => Assert.Equal(t, new TemplateQuery(t).Template)); // all valid names
        Assert.Equal(TemplateFlowClient.KnownTemplates.Count, TemplateFlowClient.KnownTemplates.Distinct().Count());
    }

    [Fact]
    public void OptionsDefaults()
    {
        var o = new TemplateFlowOptions();
        Assert.Equal(new Uri("https://templateflow.s3.amazonaws.com/"), o.BaseAddress);
        Assert.False(o.Offline);
        Assert.Equal(TemplateFlowOptions.DefaultHome(), o.Home);
        // A base address without the trailing slash keeps its last segment.
        var mirror = new TemplateFlowOptions { BaseAddress = new Uri("http://127.0.0.1:1/mirror") };
        Assert.Equal("http://127.0.0.1:1/mirror/" + T1wPath,
            new TemplateFlowClient(mirror with { Offline = true }).Url(T1w).ToString());
        Assert.Throws<ArgumentException>(() => new TemplateFlowOptions { BaseAddress = new Uri("ftp://example.invalid/") });

        string? saved = Environment.GetEnvironmentVariable("TEMPLATEFLOW_HOME");
        try
        {
            string custom = Path.Combine(Path.GetTempPath(), "tf-home-test");
            Environment.SetEnvironmentVariable("TEMPLATEFLOW_HOME", custom);
            Assert.Equal(custom, TemplateFlowOptions.DefaultHome());
            Environment.SetEnvironmentVariable("TEMPLATEFLOW_HOME", null);
            if (OperatingSystem.IsLinux() && string.IsNullOrWhiteSpace(Environment.GetEnvironmentVariable("XDG_CACHE_HOME")))
                Assert.Equal(Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache", "templateflow"), TemplateFlowOptions.DefaultHome());
        }
        finally
        {
            Environment.SetEnvironmentVariable("TEMPLATEFLOW_HOME", saved);
        }
    }

    [Fact]
    public async Task CancellationStopsADownloadAndCleansUp()
    {
        byte[] body = TestNifti.Gz(n: 40);
        await using var server = new LoopbackServer(ServerResponse.File(body) with { CutAfter = 5000, StallAfterBody = true });
        using var home = new TempHome();
        using var client = Client(home, server);
        using var cts = new CancellationTokenSource();

        Task<TemplateFile> running = client.GetAsync(T1w, null, cts.Token);
        await server.FirstRequest.WaitAsync(Limit);
        await Task.Delay(100);
        cts.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => running.WaitAsync(Limit));
        Assert.Equal(Sorted(Lock(T1wPath)), home.Files());
    }
}
