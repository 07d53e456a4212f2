using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.IO.Compression;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace RegPS.Engine.Tests.Templates;

/// <summary>What the test server sends for one request.</summary>
internal sealed record ServerResponse(int Status, string Reason, string ContentType, byte[] Body)
{
    /// <summary>Content-Length to announce; defaults to the body's length.</summary>
    public long? AnnouncedLength { get; init; }
    /// <summary>Send only this many body bytes, then close the connection.</summary>
    public int? CutAfter { get; init; }
    /// <summary>After the (possibly cut) body, keep the connection open and silent until the server stops.</summary>
    public bool StallAfterBody { get; init; }
    /// <summary>Awaited before anything is sent (a test holds the response back with it).</summary>
    public Task? Gate { get; init; }
    public int ChunkSize { get; init; } = 64 * 1024;
    public TimeSpan ChunkDelay { get; init; }

    public static ServerResponse File(byte[] body) => new(200, "OK", "application/octet-stream", body);
    public static ServerResponse NotFound() => new(404, "Not Found", "application/xml",
        Encoding.ASCII.GetBytes("<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>NoSuchKey</Code></Error>"));
}

/// <summary>
/// A minimal HTTP/1.1 server on 127.0.0.1 and a free port, written on a raw socket so a test can lie about
/// Content-Length, cut a transfer mid-way, or stall. One request per connection (Connection: close).
/// </summary>
internal sealed class LoopbackServer : IAsyncDisposable
{
    private readonly TcpListener _listener;
    private readonly Func<string, ServerResponse> _respond;
    private readonly CancellationTokenSource _stop = new();
    private readonly ConcurrentQueue<string> _paths = new();
    private readonly ConcurrentQueue<Task> _connections = new();
    private readonly TaskCompletionSource _firstRequest = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly Task _acceptLoop;

    public LoopbackServer(Func<string, ServerResponse> respond)
    {
        _respond = respond;
        _listener = new TcpListener(IPAddress.Loopback, 0);
        _listener.Start();
        BaseAddress = new Uri($"http://127.0.0.1:{((IPEndPoint)_listener.LocalEndpoint).Port}/");
        _acceptLoop = Task.Run(AcceptLoopAsync);
    }

    public LoopbackServer(ServerResponse always) : this(_ => always) { }

    public Uri BaseAddress { get; }

    /// <summary>Request paths received so far, in arrival order.</summary>
    public IReadOnlyList<string> Paths => _paths.ToArray();

    public int RequestCount => _paths.Count;

    /// <summary>Completes when the first request line has been read.</summary>
    public Task FirstRequest => _firstRequest.Task;

    private async Task AcceptLoopAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            TcpClient client;
            try { client = await _listener.AcceptTcpClientAsync(_stop.Token); }
            catch (Exception) { return; } // stopped
            _connections.Enqueue(Task.Run(() => ServeAsync(client)));
        }
    }

    private async Task ServeAsync(TcpClient client)
    {
        using (client)
        {
            try
            {
                var stream = client.GetStream();
                string path = await ReadRequestPathAsync(stream);
                _paths.Enqueue(path);
                _firstRequest.TrySetResult();

                var r = _respond(path);
                if (r.Gate is not null) await r.Gate.WaitAsync(_stop.Token);

                string head = $"HTTP/1.1 {r.Status} {r.Reason}\r\nContent-Type: {r.ContentType}\r\n" +
                              $"Content-Length: {r.AnnouncedLength ?? r.Body.Length}\r\nConnection: close\r\n\r\n";
                await stream.WriteAsync(Encoding.ASCII.GetBytes(head), _stop.Token);
                int limit = Math.Min(r.CutAfter ?? r.Body.Length, r.Body.Length);
                for (int sent = 0; sent < limit;)
                {
                    int n = Math.Min(r.ChunkSize, limit - sent);
                    await stream.WriteAsync(r.Body.AsMemory(sent, n), _stop.Token);
                    await stream.FlushAsync(_stop.Token);
                    sent += n;
                    if (r.ChunkDelay > TimeSpan.Zero && sent < limit) await Task.Delay(r.ChunkDelay, _stop.Token);
                }
                await stream.FlushAsync(_stop.Token);
                if (r.StallAfterBody) await Task.Delay(Timeout.Infinite, _stop.Token);
                client.Client.Shutdown(SocketShutdown.Send);
            }
            catch (Exception)
            {
                // The client hung up first (it rejected the response early) or the server is stopping.
            }
        }
    }

    private static async Task<string> ReadRequestPathAsync(NetworkStream stream)
    {
        var header = new List<byte>();
        var one = new byte[1];
        while (header.Count < 16384)
        {
            if (await stream.ReadAsync(one) == 0) throw new IOException("client closed before sending a request");
            header.Add(one[0]);
            int c = header.Count;
            if (c >= 4 && header[c - 4] == '\r' && header[c - 3] == '\n' && header[c - 2] == '\r' && header[c - 1] == '\n') break;
        }
        string requestLine = Encoding.ASCII.GetString(header.ToArray()).Split("\r\n")[0];
        return Uri.UnescapeDataString(requestLine.Split(' ')[1]);
    }

    public async ValueTask DisposeAsync()
    {
        _stop.Cancel();
        _listener.Stop();
        await _acceptLoop.WaitAsync(TimeSpan.FromSeconds(5));
        try { await Task.WhenAll(_connections).WaitAsync(TimeSpan.FromSeconds(5)); }
        catch (Exception) { }
        _stop.Dispose();
    }
}

/// <summary>A fresh TemplateFlow home under the system temp folder, deleted afterwards.</summary>
internal sealed class TempHome : IDisposable
{
    public TempHome()
    {
        Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "regps-tpl-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(Path);
    }

    public string Path { get; }

    /// <summary>Every file under the home, as '/'-separated paths relative to it, sorted.</summary>
    public string[] Files() => Directory.EnumerateFiles(Path, "*", SearchOption.AllDirectories)
        .Select(f => System.IO.Path.GetRelativePath(Path, f).Replace('\\', '/'))
        .Order(StringComparer.Ordinal).ToArray();

    /// <summary>Writes a file the way another tool (the Python client, a copy) would put it into the cache.</summary>
    public string Place(string relativePath, byte[] content)
    {
        string full = System.IO.Path.Combine(new[] { Path }.Concat(relativePath.Split('/')).ToArray());
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(full)!);
        File.WriteAllBytes(full, content);
        return full;
    }

    public void Dispose()
    {
        try { Directory.Delete(Path, recursive: true); }
        catch (IOException) { }
    }
}

/// <summary>Small test images.</summary>
internal static class TestNifti
{
    /// <summary>
    /// An n x n x n uint8 NIfTI-1 image (348-byte header, 4-byte extension flag, voxels), gzip-compressed.
    /// Voxels are random with a fixed seed, so the file barely compresses and its size is about n^3 bytes.
    /// </summary>
    public static byte[] Gz(int n = 4, int seed = 1)
    {
        var raw = new byte[352 + n * n * n];
        var h = raw.AsSpan();
        BinaryPrimitives.WriteInt32LittleEndian(h, 348);                  // sizeof_hdr
        short[] dim = { 3, (short)n, (short)n, (short)n, 1, 1, 1, 1 };
        for (int i = 0; i < 8; i++) BinaryPrimitives.WriteInt16LittleEndian(h[(40 + 2 * i)..], dim[i]);
        BinaryPrimitives.WriteInt16LittleEndian(h[70..], 2);               // datatype: uint8
        BinaryPrimitives.WriteInt16LittleEndian(h[72..], 8);               // bitpix
        for (int i = 0; i < 4; i++) BinaryPrimitives.WriteSingleLittleEndian(h[(76 + 4 * i)..], 1f); // pixdim[0..3]
        BinaryPrimitives.WriteSingleLittleEndian(h[108..], 352f);          // vox_offset
        Encoding.ASCII.GetBytes("n+1\0").CopyTo(h[344..]);                 // magic
        new Random(seed).NextBytes(h[352..]);
        return Gzip(raw);
    }

    public static byte[] Gzip(byte[] raw)
    {
        using var ms = new MemoryStream();
        using (var gz = new GZipStream(ms, CompressionLevel.Fastest)) gz.Write(raw);
        return ms.ToArray();
    }
}
