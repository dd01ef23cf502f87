// Access control of a gateway: tokens, permissions, limits, on REST (a global guard) and on sockets (the SocketGuard).
import { Global, Module } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { authEnabled, PULSE_CONFIG, type PulseConfig } from '#pulse/config';
import { AuthService } from './auth.service.js';
import { HttpAuthGuard } from './http-auth.guard.js';
import { LimitsService } from './limits.service.js';
import { OriginPolicy } from './origin-policy.js';
import { SocketGuard } from './socket-guard.js';

@Global()
@Module({
  providers: [
    AuthService,
    LimitsService,
    SocketGuard,
    {
      provide: OriginPolicy,
      inject: [PULSE_CONFIG],
      useFactory: (config: PulseConfig) =>
        new OriginPolicy({
          allowedOrigins: config.PULSE_ALLOWED_ORIGINS,
          publicUrls: config.PULSE_PUBLIC_URL,
          allowedHosts: config.PULSE_ALLOWED_HOSTS,
          trustedProxies: config.PULSE_TRUSTED_PROXIES,
          // With auth on a rebinding page has no token to send: the Host check is for auth off.
          checkHost: !authEnabled(config),
        }),
    },
    HttpAuthGuard,
    { provide: APP_GUARD, useExisting: HttpAuthGuard },
  ],
  exports: [AuthService, LimitsService, SocketGuard, OriginPolicy, HttpAuthGuard],
})
export class AuthModule {}
