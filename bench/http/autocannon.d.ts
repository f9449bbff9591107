/** The part of autocannon 8's API that bench/http uses (the package ships no types). */
declare module 'autocannon' {
  interface Histogram { average: number; mean: number; total: number; p50: number; p99: number; max: number }
  interface Result {
    requests: Histogram;
    latency: Histogram;
    throughput: Histogram;
    non2xx: number;
    errors: number;
    timeouts: number;
  }
  interface Options { url: string; connections?: number; duration?: number; headers?: Record<string, string>; timeout?: number }
  function autocannon(opts: Options): Promise<Result>;
  export default autocannon;
}
