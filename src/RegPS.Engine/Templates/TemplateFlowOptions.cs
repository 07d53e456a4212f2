namespace RegPS.Engine.Templates;

/// <summary>Where the TemplateFlow cache lives, where files are downloaded from, and how.</summary>
public sealed record TemplateFlowOptions
{
    /// <summary>The public storage the Python client downloads from (its <c>s3_root</c>).</summary>
    public static readonly Uri DefaultBaseAddress = new("https://templateflow.s3.amazonaws.com/");

    private readonly Uri _baseAddress = DefaultBaseAddress;

    /// <summary>The cache folder (TemplateFlow's "home"); defaults to <see cref="DefaultHome"/>.</summary>
    public string Home { get; init; } = DefaultHome();

    /// <summary>Base address of the archive; file URLs are this plus <see cref="TemplateQuery.RelativePath"/>.</summary>
    public Uri BaseAddress
    {
        get => _baseAddress;
        init
        {
            ArgumentNullException.ThrowIfNull(value);
            if (!value.IsAbsoluteUri || (value.Scheme != Uri.UriSchemeHttps && value.Scheme != Uri.UriSchemeHttp))
                throw new ArgumentException($"The TemplateFlow base address must be an absolute http(s) URL, not '{value}'.", nameof(BaseAddress));
            // Without a trailing slash, new Uri(base, relative) would drop the last path segment.
            _baseAddress = value.AbsoluteUri.EndsWith('/') ? value : new Uri(value.AbsoluteUri + "/");
        }
    }

    /// <summary>Never use the network: files missing from the cache are an error that says how to fetch them.</summary>
    public bool Offline { get; init; }

    /// <summary>
    /// The longest wait for the server: for the response headers, and then for each next block of the body
    /// (an inactivity limit, so a large file on a slow but steady link is not cut off). Default 30 s.
    /// </summary>
    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Message handler for the client's own HttpClient (tests, proxies); the client does not dispose it.</summary>
    public HttpMessageHandler? Handler { get; init; }

    /// <summary>An HttpClient to use as it is (its own Timeout still applies); the client does not dispose it.</summary>
    public HttpClient? HttpClient { get; init; }

    /// <summary>
    /// The folder the Python client uses: <c>$TEMPLATEFLOW_HOME</c> when set, otherwise the per-user cache folder that
    /// the client's <c>platformdirs.user_cache_dir("templateflow")</c> gives: <c>$XDG_CACHE_HOME/templateflow</c> or
    /// <c>~/.cache/templateflow</c> on Linux, <c>~/Library/Caches/templateflow</c> on macOS,
    /// <c>%LOCALAPPDATA%\templateflow\templateflow\Cache</c> on Windows. (Clients before 2025 used
    /// <c>~/.cache/templateflow</c> everywhere; on Linux the two agree.)
    /// </summary>
    public static string DefaultHome()
    {
        string? env = Environment.GetEnvironmentVariable("TEMPLATEFLOW_HOME");
        if (!string.IsNullOrWhiteSpace(env)) return Path.GetFullPath(env);

        string home = Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
        if (OperatingSystem.IsWindows())
        {
            string local = Environment.GetFolderPath(Environment.SpecialFolder.LocalApplicationData);
            return Path.Combine(local, "templateflow", "templateflow", "Cache");
        }
        if (OperatingSystem.IsMacOS())
            return Path.Combine(home, "Library", "Caches", "templateflow");
        string? xdg = Environment.GetEnvironmentVariable("XDG_CACHE_HOME");
        return Path.Combine(string.IsNullOrWhiteSpace(xdg) ? Path.Combine(home, ".cache") : xdg.Trim(), "templateflow");
    }
}
