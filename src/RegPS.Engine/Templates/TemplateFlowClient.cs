using System.Buffers;
using System.Diagnostics;
using System.Globalization;
using System.IO.Compression;
using System.Net;
using System.Runtime.ExceptionServices;
using System.Security.Cryptography;
using System.Text;

namespace RegPS.Engine.Templates;

/// <summary>
/// Finds TemplateFlow files in the local cache the Python client shares, and downloads missing ones from the
/// archive's public storage. Safe to call from many threads and processes at once on the same cache: a lock file per
/// target serialises check-then-download, so one file is downloaded once and nobody sees a partial file.
/// </summary>
/// <remarks>
/// Cache layout is TemplateFlow's own (<c>&lt;home&gt;/tpl-X/[cohort-N/]tpl-X_..._suffix.ext</c>), so files fetched by
/// <c>templateflow.api.get</c> are found here and files fetched here are found by Python. Beside each downloaded file
/// the client writes a hidden <c>.&lt;file&gt;.sha256</c> (sha256sum format) and leaves an empty hidden <c>.&lt;file&gt;.lock</c>
/// (hidden, so the Python client's file queries, which match any extension, never return them): the lock
/// file is not deleted on release, because deleting it would let a third caller lock a new file while a second holds
/// the old one. Removing stale lock files while no download runs is harmless.
/// </remarks>
public sealed class TemplateFlowClient : IDisposable
{
    /// <summary>Where the SHA-256 of a cached file is recorded: a hidden file beside it, ".&lt;name&gt;.sha256".</summary>
    public static string ChecksumPath(string file) => Path.Combine(Path.GetDirectoryName(file) ?? "", "." + Path.GetFileName(file) + ".sha256");

    /// <summary>The lock file serialising downloads of a cached file: a hidden file beside it, ".&lt;name&gt;.lock".</summary>
    public static string LockPath(string file) => Path.Combine(Path.GetDirectoryName(file) ?? "", "." + Path.GetFileName(file) + ".lock");

    private const int BufferSize = 81920;
    private static readonly TimeSpan ProgressInterval = TimeSpan.FromMilliseconds(100);

    private readonly Lazy<HttpClient> _http;
    private readonly bool _ownsHttp;
    private bool _disposed;

    public TemplateFlowClient(TemplateFlowOptions? options = null)
    {
        Options = options ?? new TemplateFlowOptions();
        if (string.IsNullOrWhiteSpace(Options.Home))
            throw new ArgumentException("The TemplateFlow home folder must not be empty.", nameof(options));
        if (Options.Timeout <= TimeSpan.Zero && Options.Timeout != System.Threading.Timeout.InfiniteTimeSpan)
            throw new ArgumentOutOfRangeException(nameof(options), Options.Timeout, "The timeout must be positive (or infinite).");
        Home = Path.GetFullPath(Options.Home);
        _ownsHttp = Options.HttpClient is null;
        // Created on first download only: an offline client, or one that finds everything cached, never builds a socket.
        _http = new Lazy<HttpClient>(CreateHttpClient, LazyThreadSafetyMode.ExecutionAndPublication);
    }

    public TemplateFlowOptions Options { get; }

    /// <summary>Full path of the cache folder.</summary>
    public string Home { get; }

    /// <summary>Common TemplateFlow template identifiers, for tab completion. Not a limit: any valid name can be asked for.</summary>
    public static IReadOnlyList<string> KnownTemplates { get; } = Array.AsReadOnly(new[]
    {
        "Fischer344", "MNI152Lin", "MNI152NLin2009aAsym", "MNI152NLin2009aSym", "MNI152NLin2009bAsym", "MNI152NLin2009bSym",
        "MNI152NLin2009cAsym", "MNI152NLin2009cSym", "MNI152NLin6Asym", "MNI152NLin6Sym", "MNI305", "MNIColin27",
        "MNIInfant", "MNIPediatricAsym", "NKI", "OASIS30ANTs", "PNC", "UNCInfant", "WHS", "fsLR", "fsaverage",
    });

    /// <summary>Template names (without <c>tpl-</c>) that have a folder in the cache, sorted.</summary>
    public IEnumerable<string> CachedTemplates()
    {
        if (!Directory.Exists(Home)) return Array.Empty<string>();
        return Directory.EnumerateDirectories(Home, "tpl-*")
            .Select(d => Path.GetFileName(d)[4..])
            .Where(n => n.Length > 0)
            .Order(StringComparer.Ordinal)
            .ToArray();
    }

    /// <summary>
    /// Where the file is, or would be, in the cache. When the file (or the Python client's empty placeholder for it)
    /// exists under the other spelling of the resolution index (res-1 for res-01), that path is returned.
    /// </summary>
    public string LocalPath(TemplateQuery query) => FindCached(query) ?? PathFor(CandidateNames(query)[0]);

    /// <summary>The file's URL under its usual name (a download that gets 404 there also tries the other resolution spelling).</summary>
    public Uri Url(TemplateQuery query) => new(Options.BaseAddress, query.RelativePath);

    /// <summary>
    /// Returns the file from the cache, downloading it first when it is missing (unless offline).
    /// A cached file is returned as it is, with no network access; an empty placeholder (as the Python client's
    /// skeleton leaves) counts as missing and is replaced.
    /// </summary>
    /// <exception cref="TemplateDownloadException">The download failed; nothing was left in the cache.</exception>
    /// <exception cref="TemplateNotFoundOfflineException">Offline and not cached.</exception>
    /// <exception cref="TemplateChecksumException">The cached file does not match the checksum written when it was downloaded.</exception>
    public async Task<TemplateFile> GetAsync(TemplateQuery query, IProgress<DownloadProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(query);
        ObjectDisposedException.ThrowIf(_disposed, this);

        if (FindCached(query) is string cached)
            return await DescribeCachedAsync(query, cached, cancellationToken).ConfigureAwait(false);

        IReadOnlyList<string> names = CandidateNames(query);
        if (Options.Offline)
            throw new TemplateNotFoundOfflineException(query, PathFor(names[0]), Home);

        // One lock per query, whichever spelling ends up downloaded (all spellings share the folder).
        string lockPath = LockPath(PathFor(query.RelativePath));
        Directory.CreateDirectory(Path.GetDirectoryName(lockPath)!);
        using (await AcquireLockAsync(lockPath, cancellationToken).ConfigureAwait(false))
        {
            // Someone else (another thread, process, or the Python client) may have finished it while we waited.
            if (FindCached(query) is string arrived)
                return await DescribeCachedAsync(query, arrived, cancellationToken).ConfigureAwait(false);

            TemplateDownloadException? notFound = null;
            foreach (string name in names)
            {
                try
                {
                    return await DownloadAsync(query, name, progress, cancellationToken).ConfigureAwait(false);
                }
                catch (TemplateDownloadException e) when (e.StatusCode == 404)
                {
                    // The archive spells the resolution index one way per template; try the other before giving up,
                    // and report the first name tried, which is the one the user expects.
                    notFound ??= e;
                }
            }
            ExceptionDispatchInfo.Throw(notFound!);
            throw notFound!; // not reached
        }
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        if (_ownsHttp && _http.IsValueCreated) _http.Value.Dispose();
    }

    // ----------------------------------------------------------------------------------------------------------------

    private string PathFor(string relativePath) =>
        Path.Combine(new[] { Home }.Concat(relativePath.Split('/')).ToArray());

    // A usable cached file under either spelling of the resolution index.
    private string? FindCached(TemplateQuery query) =>
        CandidateNames(query).Select(PathFor).FirstOrDefault(IsUsable);

    // The spellings of the file name to look for and download, the one the cache already has a placeholder for first
    // (the Python client's skeleton holds every archive file under its real name), then the usual one.
    private IReadOnlyList<string> CandidateNames(TemplateQuery query)
    {
        if (query.AlternateRelativePath is not string alternate) return new[] { query.RelativePath };
        return File.Exists(PathFor(alternate)) && !File.Exists(PathFor(query.RelativePath))
            ? new[] { alternate, query.RelativePath }
            : new[] { query.RelativePath, alternate };
    }

    /// <summary>
    /// Whether a file in the cache holds real content. The Python client fills a new cache with a skeleton of empty
    /// placeholder files and downloads a file when it is empty; its older versions could also save S3's small XML
    /// error answer as the file. Both count as missing here too, and a download replaces them.
    /// </summary>
    internal static bool IsUsable(string path)
    {
        var info = new FileInfo(path);
        if (!info.Exists || info.Length == 0) return false;
        if (info.Length >= 1024) return true;
        byte[] head = new byte[Math.Min((int)info.Length, 200)];
        using (var f = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete))
            f.ReadAtLeast(head, head.Length, throwOnEndOfStream: false);
        string text = Encoding.ASCII.GetString(head);
        return !(text.StartsWith("<?xml", StringComparison.Ordinal) && text.Contains("<Error><Code>", StringComparison.Ordinal));
    }

    private static async Task<TemplateFile> DescribeCachedAsync(TemplateQuery query, string path, CancellationToken ct)
    {
        await using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read | FileShare.Delete, BufferSize, FileOptions.Asynchronous | FileOptions.SequentialScan);
        string actual = Convert.ToHexStringLower(await SHA256.HashDataAsync(stream, ct).ConfigureAwait(false));
        bool verified = false;
        string sidecar = ChecksumPath(path);
        if (File.Exists(sidecar))
        {
            // sha256sum format: "<hex>  <name>"; only the hex matters.
            string recorded = (await File.ReadAllTextAsync(sidecar, ct).ConfigureAwait(false)).Split((char[]?)null, 2, StringSplitOptions.RemoveEmptyEntries).FirstOrDefault() ?? "";
            if (!string.Equals(recorded, actual, StringComparison.OrdinalIgnoreCase))
                throw new TemplateChecksumException(path, recorded, actual);
            verified = true;
        }
        return new TemplateFile(query, path, Downloaded: false, stream.Length, actual, Source: null) { ChecksumVerified = verified };
    }

    private HttpClient CreateHttpClient()
    {
        if (Options.HttpClient is HttpClient given) return given;
        HttpMessageHandler handler = Options.Handler ?? new SocketsHttpHandler
        {
            // The archive's .nii.gz files must arrive as the stored bytes, never transparently inflated.
            AutomaticDecompression = DecompressionMethods.None,
            ConnectTimeout = Options.Timeout,
            PooledConnectionLifetime = TimeSpan.FromMinutes(5),
        };
        var http = new HttpClient(handler, disposeHandler: Options.Handler is null)
        {
            // Timeouts are applied per wait in DownloadAsync (headers, then each block), not to the whole transfer.
            Timeout = System.Threading.Timeout.InfiniteTimeSpan,
        };
        http.DefaultRequestHeaders.UserAgent.ParseAdd("RegPS/" + (typeof(TemplateFlowClient).Assembly.GetName().Version?.ToString(3) ?? "0"));
        return http;
    }

    /// <summary>
    /// Takes <paramref name="lockPath"/> exclusively (FileShare.None: LockFileEx on Windows, flock on Unix, so it
    /// works across processes as well as threads), retrying with a growing back-off until it gets it or is cancelled.
    /// </summary>
    internal static async Task<FileStream> AcquireLockAsync(string lockPath, CancellationToken ct)
    {
        int delayMs = 5;
        while (true)
        {
            ct.ThrowIfCancellationRequested();
            try
            {
                return new FileStream(lockPath, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None, bufferSize: 1);
            }
            catch (IOException e) when (IsLockContention(e))
            {
            }
            await Task.Delay(delayMs, ct).ConfigureAwait(false);
            delayMs = Math.Min(delayMs * 2, 200);
        }
    }

    // Another holder, as opposed to a real I/O error (which must surface, not spin): on Windows the HResult carries
    // ERROR_SHARING_VIOLATION (32) or ERROR_LOCK_VIOLATION (33); on Unix it is flock's errno, EWOULDBLOCK
    // (11 on Linux, 35 on macOS and the BSDs).
    private static bool IsLockContention(IOException e) =>
        OperatingSystem.IsWindows() ? (e.HResult & 0xFFFF) is 32 or 33
        : e.HResult == (OperatingSystem.IsLinux() ? 11 : 35);

    private async Task<TemplateFile> DownloadAsync(TemplateQuery query, string relativePath, IProgress<DownloadProgress>? progress, CancellationToken ct)
    {
        Uri url = new(Options.BaseAddress, relativePath);
        string target = PathFor(relativePath);
        string dir = Path.GetDirectoryName(target)!;
        string name = Path.GetFileName(target);
        string temp = Path.Combine(dir, $".{name}.{Guid.NewGuid():N}.part");
        string tempHash = Path.Combine(dir, $".{name}.sha256.{Guid.NewGuid():N}.part");
        TimeSpan timeout = Options.Timeout;

        TemplateDownloadException Fail(string problem, int? status = null, Exception? inner = null) =>
            new(url, target, problem, status, inner);

        using var wait = CancellationTokenSource.CreateLinkedTokenSource(ct);
        try
        {
            string sha256;
            long received = 0;
            using (var request = new HttpRequestMessage(HttpMethod.Get, url))
            {
                HttpResponseMessage response;
                wait.CancelAfter(timeout);
                try
                {
                    response = await _http.Value.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, wait.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException e) when (!ct.IsCancellationRequested)
                {
                    throw Fail($"no answer from the server within {timeout.TotalSeconds:0.#} s", inner: e);
                }
                catch (HttpRequestException e)
                {
                    throw Fail($"could not reach the server: {e.Message}", inner: e);
                }

                using (response)
                {
                    int status = (int)response.StatusCode;
                    if (!response.IsSuccessStatusCode)
                        throw Fail($"HTTP {status} {response.ReasonPhrase ?? response.StatusCode.ToString()}", status);

                    string what = query.IsNifti ? "a NIfTI file" : $"a {query.Extension} file";
                    string? mediaType = response.Content.Headers.ContentType?.MediaType;
                    if (mediaType is "text/html" or "application/xhtml+xml")
                        throw Fail($"server sent an HTML page instead of {what} (HTTP {status}, {mediaType})", status);

                    long? total = response.Content.Headers.ContentLength;
                    using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
                    byte[] buffer = ArrayPool<byte>.Shared.Rent(BufferSize);
                    try
                    {
                        await using var file = new FileStream(temp, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None, BufferSize, FileOptions.Asynchronous);
                        Stream body;
                        try
                        {
                            body = await response.Content.ReadAsStreamAsync(wait.Token).ConfigureAwait(false);
                        }
                        catch (Exception e) when (e is IOException or HttpRequestException)
                        {
                            throw Fail($"transfer interrupted after 0 of {Describe(total)} bytes ({e.Message})", status, e);
                        }

                        await using (body.ConfigureAwait(false))
                        {
                            var clock = Stopwatch.StartNew();
                            TimeSpan? lastReport = null;
                            while (true)
                            {
                                int n;
                                wait.CancelAfter(timeout); // inactivity limit: restarts for every block
                                try
                                {
                                    n = await body.ReadAsync(buffer.AsMemory(0, BufferSize), wait.Token).ConfigureAwait(false);
                                }
                                catch (OperationCanceledException e) when (!ct.IsCancellationRequested)
                                {
                                    throw Fail($"transfer stalled: no data for {timeout.TotalSeconds:0.#} s after {received} of {Describe(total)} bytes", status, e);
                                }
                                catch (Exception e) when (e is IOException or HttpRequestException)
                                {
                                    throw Fail($"transfer interrupted after {received} of {Describe(total)} bytes ({e.Message})", status, e);
                                }
                                if (n == 0) break;

                                await file.WriteAsync(buffer.AsMemory(0, n), ct).ConfigureAwait(false);
                                hash.AppendData(buffer, 0, n);
                                received += n;

                                TimeSpan now = clock.Elapsed;
                                if (progress is not null && (lastReport is null || now - lastReport.Value >= ProgressInterval))
                                {
                                    lastReport = now;
                                    progress.Report(new DownloadProgress(received, total, Rate(received, now)));
                                }
                            }
                            progress?.Report(new DownloadProgress(received, total, Rate(received, clock.Elapsed)));
                        }

                        if (total is long expected && received != expected)
                            throw Fail(received < expected
                                ? $"transfer interrupted after {received} of {expected} bytes (the response ended early)"
                                : $"wrong length: received {received} bytes but the server announced {expected} (Content-Length)", status);

                        await file.FlushAsync(ct).ConfigureAwait(false);
                        file.Position = 0;
                        string answer = $"HTTP {status}, {mediaType ?? "no content type"}";
                        if (await CheckContentAsync(file, query, answer, ct).ConfigureAwait(false) is string problem)
                            throw Fail(problem, status);
                    }
                    finally
                    {
                        ArrayPool<byte>.Shared.Return(buffer);
                    }
                    sha256 = Convert.ToHexStringLower(hash.GetHashAndReset());
                }
            }

            // Sidecar first, then the file: whoever sees the file also sees its checksum. Both are atomic renames.
            await File.WriteAllTextAsync(tempHash, $"{sha256}  {Path.GetFileName(target)}\n", new UTF8Encoding(false), ct).ConfigureAwait(false);
            File.Move(tempHash, ChecksumPath(target), overwrite: true);
            File.Move(temp, target, overwrite: true);
            return new TemplateFile(query, target, Downloaded: true, received, sha256, url) { ChecksumVerified = true };
        }
        catch
        {
            TryDelete(temp);
            TryDelete(tempHash);
            throw;
        }
    }

    /// <summary>
    /// Checks that the downloaded bytes are the kind of file asked for. Returns the problem, or null when fine.
    /// <paramref name="answer"/> describes the response (status and content type) for the message.
    /// </summary>
    internal static async Task<string?> CheckContentAsync(Stream file, TemplateQuery query, string answer, CancellationToken ct)
    {
        var head = new byte[64];
        int got = await file.ReadAtLeastAsync(head, head.Length, throwOnEndOfStream: false, ct).ConfigureAwait(false);
        file.Position = 0;
        if (got == 0) return "the server sent an empty file";

        string what = query.IsNifti ? "a NIfTI file" : $"a {query.Extension} file";
        bool markupExpected = query.Extension.EndsWith(".gii", StringComparison.OrdinalIgnoreCase) || query.Extension.EndsWith(".xml", StringComparison.OrdinalIgnoreCase);
        if (!markupExpected && FirstNonBlank(head.AsSpan(0, got)) == (byte)'<')
            return $"server sent an HTML/XML page instead of {what} ({answer}); it starts with \"{Printable(head.AsSpan(0, got))}\"";

        if (!query.IsNifti) return null;

        bool gz = query.Extension.EndsWith(".gz", StringComparison.OrdinalIgnoreCase);
        var sizeofHdr = new byte[4];
        if (gz)
        {
            if (got < 2 || head[0] != 0x1F || head[1] != 0x8B)
                return $"not a gzip file: it starts with {Convert.ToHexString(head.AsSpan(0, Math.Min(got, 4)))} instead of 1F8B";
            try
            {
                await using var inflate = new GZipStream(file, CompressionMode.Decompress, leaveOpen: true);
                await inflate.ReadExactlyAsync(sizeofHdr, ct).ConfigureAwait(false);
            }
            catch (Exception e) when (e is InvalidDataException or EndOfStreamException)
            {
                return $"the gzip data is corrupt or too short to hold a NIfTI header ({e.Message})";
            }
            finally
            {
                file.Position = 0;
            }
        }
        else
        {
            if (got < 4) return $"the file is too short ({got} bytes) to hold a NIfTI header";
            head.AsSpan(0, 4).CopyTo(sizeofHdr);
        }

        int le = System.Buffers.Binary.BinaryPrimitives.ReadInt32LittleEndian(sizeofHdr);
        int be = System.Buffers.Binary.BinaryPrimitives.ReadInt32BigEndian(sizeofHdr);
        if (le is 348 or 540 || be is 348 or 540) return null;
        return $"the {(gz ? "decompressed " : "")}content is not a NIfTI image (sizeof_hdr is {le.ToString(CultureInfo.InvariantCulture)}, expected 348 or 540)";
    }

    private static byte FirstNonBlank(ReadOnlySpan<byte> s)
    {
        if (s.StartsWith((ReadOnlySpan<byte>)[0xEF, 0xBB, 0xBF])) s = s[3..]; // UTF-8 byte order mark
        foreach (byte b in s)
            if (b is not ((byte)' ' or (byte)'\t' or (byte)'\r' or (byte)'\n')) return b;
        return 0;
    }

    private static string Printable(ReadOnlySpan<byte> s)
    {
        var sb = new StringBuilder();
        foreach (byte b in s[..Math.Min(s.Length, 40)])
            sb.Append(b is >= 0x20 and < 0x7F && b != (byte)'"' ? (char)b : ' ');
        return sb.ToString().Trim();
    }

    private static string Describe(long? total) => total?.ToString(CultureInfo.InvariantCulture) ?? "an unknown number of";

    private static double Rate(long bytes, TimeSpan elapsed) => elapsed.TotalSeconds > 0 ? bytes / elapsed.TotalSeconds : 0;

    private static void TryDelete(string path)
    {
        try { File.Delete(path); }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
    }
}
